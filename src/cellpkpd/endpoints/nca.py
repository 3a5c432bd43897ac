"""Non-compartmental analysis (NCA) of one concentration-time profile (cells or cytokines).

Conventions follow PKNCA (Denney et al., J Pharmacokinet Pharmacodyn 2019) and Phoenix
WinNonlin:

* **BLQ rule** ``"zero-before-first-then-missing"`` (default): a below-LLOQ sample *before the
  first quantifiable sample* is set to 0 (the cells/cytokine are not there yet); a BLQ sample
  *after* it is treated as missing: left out of Cmax, of the AUC (the curve is interpolated
  across it) and of the terminal regression, so AUC0–tlast ends at the last quantifiable sample.
  ``"zero"`` sets every BLQ sample to 0; ``"missing"`` leaves every BLQ sample out.
* **AUC** by the linear-up/log-down trapezoid rule (default): linear where the concentration
  rises or stays level, logarithmic where it falls between two positive values. ``"linear"``
  uses the linear rule throughout. Interpolation inside a segment uses the same rule.
* **Partial windows** (``auc_windows``): the AUC between ``a`` and ``b`` of the interpolated
  curve; past the last sample used it is extrapolated as ``Clast·exp(-λz·(t - tlast))`` with the
  observed Clast (0 if the last sample used is 0); NaN, with a note, where λz is unknown or the
  window starts before the first sample (add a sample or pass ``c0``).
* **Terminal phase**: log-linear least squares over the last ``n ≥ min_points`` quantifiable
  samples strictly after Tmax; among fits with a negative slope the best adjusted R² is found and
  the largest ``n`` whose adjusted R² is within ``adj_r2_tolerance`` (1e-4) of it is chosen.

Times in days, concentrations in any unit (cells/µL, pg/mL, ...); AUC in concentration·day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, DataProblem, ParameterError
from ._checks import bool_vector, float_vector, increasing_times, same_length

BLQ_RULES = ("zero-before-first-then-missing", "zero", "missing")
AUC_METHODS = ("linear-up/log-down", "linear")


@dataclass(frozen=True)
class NCAResult:
    """NCA metrics of one profile. Times in days; ``notes`` says why a metric is NaN."""

    cmax: float
    tmax: float
    tlast: float
    clast: float
    auc_0_tlast: float
    auc_0_inf: float
    auc_windows: dict[tuple[float, float], float]
    lambda_z: float
    half_life: float
    lambda_z_n_points: int
    lambda_z_adj_r2: float
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        """Flat mapping; window AUCs become ``auc_<a>_<b>`` (e.g. ``auc_0_28``)."""
        row: dict[str, object] = {k: getattr(self, k) for k in (
            "cmax", "tmax", "tlast", "clast", "auc_0_tlast", "auc_0_inf")}
        row.update({f"auc_{a:g}_{b:g}": v for (a, b), v in self.auc_windows.items()})
        row.update(lambda_z=self.lambda_z, half_life=self.half_life,
                   lambda_z_n_points=self.lambda_z_n_points,
                   lambda_z_adj_r2=self.lambda_z_adj_r2, notes="; ".join(self.notes))
        return row


def _below_lloq(conc: np.ndarray, lloq: float | None, blq) -> np.ndarray:
    flagged = bool_vector("blq", blq, conc.size)
    if lloq is not None:
        if not np.isfinite(lloq) or lloq <= 0:
            raise ParameterError(f"lloq must be a positive number, got {lloq!r}; give the "
                                 "assay's lower limit of quantification, or None")
        flagged = flagged | (conc < lloq)
    return flagged


def _apply_blq_rule(time, conc, below, rule):
    """The (time, conc) pairs NCA uses after the BLQ rule (see the module docstring)."""
    conc = np.where(below, 0.0, conc)
    if rule == "zero":
        return time, conc
    if rule == "missing":
        return time[~below], conc[~below]
    quantifiable = np.flatnonzero(~below)
    first = quantifiable[0] if quantifiable.size else time.size
    keep = ~below | (np.arange(time.size) < first)
    return time[keep], conc[keep]


def _uses_log(c1, c2, method):
    return (method == "linear-up/log-down") & (c2 < c1) & (c1 > 0) & (c2 > 0)


def _segment_areas(t, c, method):
    dt, c1, c2 = np.diff(t), c[:-1], c[1:]
    log = _uses_log(c1, c2, method)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_area = dt * (c1 - c2) / np.log(c1 / c2)
    return np.where(log, log_area, dt * (c1 + c2) / 2.0)


def _conc_at(t, c, x, method):
    """Concentration at ``t[0] <= x <= t[-1]`` interpolated by the AUC rule."""
    i = min(int(np.searchsorted(t, x, side="right")) - 1, t.size - 2)
    if t.size == 1 or x == t[i]:
        return float(c[min(i, t.size - 1)])
    frac = (x - t[i]) / (t[i + 1] - t[i])
    if _uses_log(c[i], c[i + 1], method):
        return float(c[i] * (c[i + 1] / c[i]) ** frac)
    return float(c[i] + frac * (c[i + 1] - c[i]))


def _window_auc(t, c, a, b, lambda_z, method):
    """AUC from ``a`` to ``b`` of the curve through (t, c), extrapolated by λz past t[-1]."""
    if a < t[0]:
        return np.nan, f"window ({a:g}, {b:g}) starts before the first sample at {t[0]:g}"
    area, end = 0.0, t[-1]
    if a < end:
        inner = (t > a) & (t < min(b, end))
        tt = np.concatenate([[a], t[inner], [min(b, end)]])
        cc = np.array([_conc_at(t, c, x, method) for x in tt])
        area += float(_segment_areas(tt, cc, method).sum())
    if b > end:
        start = max(a, end)
        if c[-1] == 0:
            return area, None
        if not np.isfinite(lambda_z):
            return np.nan, f"window ({a:g}, {b:g}) ends after the last sample and λz is unknown"
        c_start = c[-1] * np.exp(-lambda_z * (start - end))
        area += c_start / lambda_z * (1.0 - np.exp(-lambda_z * (b - start)))
    return area, None


def _terminal_fit(t, c, tmax, min_points, tolerance):
    """(λz, n points, adj R², note) from the best-fitting tail after Tmax."""
    tail = (t > tmax) & (c > 0)
    tt, yy = t[tail], np.log(c[tail])
    if tt.size < min_points:
        return np.nan, 0, np.nan, (f"λz not estimated: {tt.size} quantifiable point(s) after "
                                   f"Tmax, at least {min_points} needed")
    fits = []
    for n in range(min_points, tt.size + 1):
        x, y = tt[-n:], yy[-n:]
        slope, intercept = np.polyfit(x, y, 1)
        ss_tot = float(((y - y.mean()) ** 2).sum())
        if slope >= 0 or ss_tot == 0:
            continue
        r2 = 1.0 - float(((y - intercept - slope * x) ** 2).sum()) / ss_tot
        fits.append((n, 1.0 - (1.0 - r2) * (n - 1) / (n - 2), -slope))
    if not fits:
        return np.nan, 0, np.nan, "λz not estimated: no declining terminal phase after Tmax"
    best = max(f[1] for f in fits)
    n, adj, lambda_z = max(f for f in fits if f[1] >= best - tolerance)
    return float(lambda_z), n, float(adj), None


def nca(time, conc, *, lloq: float | None = None, blq=None,
        blq_rule: str = "zero-before-first-then-missing", auc_windows=((0.0, 28.0),),
        auc_method: str = "linear-up/log-down", c0: float | None = None, min_points: int = 3,
        adj_r2_tolerance: float = 1e-4) -> NCAResult:
    """NCA of one subject's profile: Cmax, Tmax, tlast, Clast, AUC0–tlast, AUC0–inf, window
    AUCs, λz, half-life (ln 2/λz), points used for λz and their adjusted R².

    ``time`` in days, strictly increasing; ``conc`` ≥ 0 (NaN only where ``blq`` flags the
    sample). A sample is BLQ where ``blq`` is True or ``conc < lloq``; ``blq_rule`` and
    ``auc_method`` are described in the module docstring. ``c0`` is the concentration assumed at
    time 0 when the first sample is later (0 after an infusion start or for extravascular doses,
    the back-extrapolated C0 for a bolus); without it AUCs start at the first sample.
    AUC0–inf = AUC0–tlast + Clast/λz. Source: PKNCA / Phoenix WinNonlin conventions.
    """
    if blq_rule not in BLQ_RULES:
        raise ParameterError(f"blq_rule must be one of {BLQ_RULES}, got {blq_rule!r}")
    if auc_method not in AUC_METHODS:
        raise ParameterError(f"auc_method must be one of {AUC_METHODS}, got {auc_method!r}")
    if min_points < 3:
        raise ParameterError(f"min_points must be ≥ 3 (adjusted R² needs 3 points), got "
                             f"{min_points}; e.g. min_points=3")
    t = float_vector("time", time)
    c = float_vector("conc", conc, allow_nan=True)
    same_length(("time", "conc"), t, c)
    increasing_times("time", t)
    below = _below_lloq(c, lloq, blq)
    problems = [DataProblem(f"conc[{i}] = {c[i]!r} is not a usable concentration",
                            "give a concentration ≥ 0, or flag the sample in blq", column="conc")
                for i in np.flatnonzero((np.isnan(c) | (c < 0)) & ~below)]
    if problems:
        raise DataError(problems)
    if c0 is not None and not (np.isfinite(c0) and c0 >= 0):
        raise ParameterError(f"c0 must be a concentration ≥ 0, got {c0!r}; give the "
                             "concentration at time 0, or None to extrapolate it")
    for a, b in auc_windows:
        if not a < b:
            raise ParameterError(f"auc_windows entry ({a}, {b}) must have start < end; give "
                                 "(start, end) pairs in the time unit")
    t, c = _apply_blq_rule(t, c, below, blq_rule)
    notes: list[str] = []
    if c0 is not None and (t.size == 0 or t[0] > 0):
        t, c = np.concatenate([[0.0], t]), np.concatenate([[float(c0)], c])
    if t.size == 0 or not (c > 0).any():
        notes.append("no quantifiable concentration")
        nan_windows = {(float(a), float(b)): np.nan for a, b in auc_windows}
        return NCAResult(0.0 if t.size else np.nan, np.nan, np.nan, np.nan, np.nan, np.nan,
                         nan_windows, np.nan, np.nan, 0, np.nan, tuple(notes))
    if t[0] > 0:
        notes.append(f"AUCs start at the first sample (t = {t[0]:g}); pass c0 to start at 0")
    imax = int(np.argmax(c))
    ilast = int(np.flatnonzero(c > 0)[-1])
    auc_last = float(_segment_areas(t[: ilast + 1], c[: ilast + 1], auc_method).sum())
    lambda_z, n_points, adj_r2, note = _terminal_fit(t, c, t[imax], min_points, adj_r2_tolerance)
    if note:
        notes.append(note)
    windows = {}
    for a, b in auc_windows:
        windows[(float(a), float(b))], note = _window_auc(t, c, a, b, lambda_z, auc_method)
        if note:
            notes.append(note)
    return NCAResult(
        cmax=float(c[imax]), tmax=float(t[imax]), tlast=float(t[ilast]), clast=float(c[ilast]),
        auc_0_tlast=auc_last, auc_0_inf=auc_last + float(c[ilast]) / lambda_z,
        auc_windows=windows, lambda_z=lambda_z, half_life=np.log(2.0) / lambda_z,
        lambda_z_n_points=n_points, lambda_z_adj_r2=adj_r2, notes=tuple(notes))


def nca_frame(data: pd.DataFrame, *, id_col: str = "id", time_col: str = "time",
              value_col: str = "value", blq_col: str | None = "blq", **options) -> pd.DataFrame:
    """`nca` per subject of a long table (one row per sample), one output row per subject.

    Columns ``id_col``, ``time_col`` (days), ``value_col`` and, if present, ``blq_col``
    (booleans). ``options`` go to `nca`. Problems of every subject are collected into one
    `DataError`, each prefixed with its subject id.
    """
    missing = [c for c in (id_col, time_col, value_col) if c not in data.columns]
    if missing:
        raise DataError(DataProblem(f"column(s) {missing} are missing",
                                    f"name the columns {id_col}, {time_col}, {value_col} or "
                                    "pass id_col/time_col/value_col"))
    use_blq = blq_col is not None and blq_col in data.columns
    rows, problems = {}, []
    for subject, group in data.groupby(id_col, sort=False):
        group = group.sort_values(time_col, kind="stable")
        try:
            result = nca(group[time_col].to_numpy(), group[value_col].to_numpy(),
                         blq=group[blq_col].to_numpy() if use_blq else None, **options)
        except DataError as err:
            problems += [DataProblem(f"subject {subject}: {p.message}", p.fix, column=p.column)
                         for p in err.problems]
            continue
        rows[subject] = result.as_dict()
    if problems:
        raise DataError(problems)
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(id_col)
