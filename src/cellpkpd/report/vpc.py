"""Visual predictive check: percentile statistics per time bin, and their figure.

Censoring follows the censored VPC of Bergstrand et al. (AAPS J 2011) and the R ``vpc``
package: observed BLQ values and simulated values below the LLOQ stay in the data as
"below LLOQ" (ranked lowest), so every percentile is taken over all observations of the
bin; a percentile that lands on a censored value is below the LLOQ and is reported as NaN,
never drawn. Each bin also reports the observed and simulated fraction below the LLOQ.
"""

from __future__ import annotations

import numbers
import re

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ._bins import assign, bin_edges
from ._checks import as_floats, axis_label


def quantile_label(q: float) -> str:
    """Column stem of a percentile: 0.05 -> 'p5', 0.5 -> 'p50', 0.025 -> 'p2.5'."""
    return f"p{100 * q:.10g}"


def vpc_stats(obs_time, obs_dv, obs_blq, sim_time, sim_dv, *, lloq, bins="auto",
              quantiles=(0.05, 0.5, 0.95), ci: float = 0.90) -> pd.DataFrame:
    """Percentile VPC statistics, one row per time bin.

    ``obs_*`` are 1-D, one value per observation; ``obs_blq`` flags censored observations
    (their ``obs_dv`` may be NaN). ``sim_dv`` is ``(n_replicates, n_obs)``: each row a
    simulation of the observed design; ``sim_time`` is ``(n_obs,)``, ``(n_replicates,
    n_obs)`` or ``None`` (= ``obs_time``). ``lloq`` is a scalar, one value per observation
    or ``None`` (no censoring); an observation below its LLOQ counts as BLQ even if not
    flagged. ``bins``: ``"auto"``, a number of bins or the edges (see ``bin_edges``).

    Columns: ``bin, t_lo, t_hi, t_mid`` (median observed time in the bin), ``n_obs, n_blq,
    lloq`` (median LLOQ), then per quantile (e.g. ``p5``): ``obs_p5`` and ``sim_p5_lo,
    sim_p5_med, sim_p5_hi`` (median and ``ci`` interval over the replicates of the simulated
    percentile), then ``obs_fblq`` and ``sim_fblq_lo/_med/_hi``. Quantiles are numpy's
    default ("linear") definition; NaN means below the LLOQ (or an empty bin).
    ``attrs`` holds ``quantiles, ci, n_replicates, edges, n_outside``.
    """
    t, dv, blq = _observations(obs_time, obs_dv, obs_blq)
    n = len(t)
    sims = as_floats(sim_dv, "sim_dv")
    if sims.ndim != 2 or sims.shape[1] != n or sims.shape[0] < 1:
        raise ParameterError(f"sim_dv must have shape (n_replicates, n_obs={n}), got "
                             f"{sims.shape}; give one row per replicate, one column per "
                             "observation")
    if not np.isfinite(sims).all():
        raise ParameterError(f"sim_dv has {int((~np.isfinite(sims)).sum())} non-finite values "
                             "(failed simulations?): drop those replicates first")
    st = t if sim_time is None else as_floats(sim_time, "sim_time")
    if st.shape not in ((n,), sims.shape):
        raise ParameterError(f"sim_time must have shape ({n},) or {sims.shape} like sim_dv, "
                             f"got {st.shape}; or leave sim_time=None to use obs_time")
    limit = _lloq(lloq, n)
    if blq.any() and not np.isfinite(limit[blq]).all():
        raise ParameterError(f"obs_blq flags {int(blq.sum())} rows but lloq is not given for all "
                             "of them: pass lloq (a scalar or one value per observation)")
    qs = _quantiles(quantiles)
    if isinstance(ci, bool) or not isinstance(ci, numbers.Real) or not 0 < ci < 1:
        raise ParameterError(f"ci must be a level strictly between 0 and 1, got {ci!r}; pass "
                             "e.g. ci=0.9")

    with np.errstate(invalid="ignore"):  # NaN LLOQ: that row is never censored
        obs_cens = blq | (dv < limit)
        sim_cens = sims < limit
    edges = bin_edges(t, bins)
    obs_bin = assign(t, edges)
    sim_bin = np.broadcast_to(assign(st, edges), sims.shape)
    levels = np.array([(1 - ci) / 2, 0.5, (1 + ci) / 2])

    records = []
    for b in range(len(edges) - 1):
        in_obs = obs_bin == b
        in_sim = sim_bin == b
        row = {"bin": b, "t_lo": edges[b], "t_hi": edges[b + 1],
               "t_mid": np.median(t[in_obs]) if in_obs.any() else np.nan,
               "n_obs": int(in_obs.sum()), "n_blq": int(obs_cens[in_obs].sum()),
               "lloq": _median_finite(limit[in_obs])}
        obs_q, _ = censored_quantiles(dv[None, :], obs_cens[None, :], in_obs[None, :], qs)
        sim_q, sim_below = censored_quantiles(sims, sim_cens, in_sim, qs)
        n_rep = in_sim.sum(axis=1)
        used = n_rep > 0
        for j, q in enumerate(qs):
            band, _ = censored_quantiles(sim_q[used, j][None, :], sim_below[used, j][None, :],
                                         np.ones((1, used.sum()), bool), levels)
            stem = quantile_label(q)
            row[f"obs_{stem}"] = obs_q[0, j]
            row[f"sim_{stem}_lo"], row[f"sim_{stem}_med"], row[f"sim_{stem}_hi"] = band[0]
        row["obs_fblq"] = row["n_blq"] / row["n_obs"] if row["n_obs"] else np.nan
        frac = (sim_cens & in_sim).sum(axis=1)[used] / n_rep[used]
        lo, med, hi = np.quantile(frac, levels) if len(frac) else (np.nan,) * 3
        row.update(sim_fblq_lo=lo, sim_fblq_med=med, sim_fblq_hi=hi)
        records.append(row)

    table = pd.DataFrame.from_records(records)
    table.attrs.update(quantiles=tuple(float(q) for q in qs), ci=float(ci),
                       n_replicates=int(sims.shape[0]), edges=tuple(map(float, edges)),
                       n_outside=int((obs_bin < 0).sum()))
    return table


def censored_quantiles(values, censored, valid, qs):
    """Row-wise linear quantiles of ``values[valid]`` with censored entries ranked lowest.

    All arguments but ``qs`` are ``(rows, n)``. Returns ``(quantiles, below)``, each
    ``(rows, len(qs))``: a quantile whose interpolation touches a censored entry is NaN with
    ``below`` True; rows with no valid entry give NaN with ``below`` False. Uncensored
    results equal ``np.quantile`` of the row's valid values.
    """
    qs = np.asarray(qs, dtype=float)
    # -inf ranks censored values first, +inf pushes values outside the bin past the end.
    keyed = np.sort(np.where(valid, np.where(censored, -np.inf, values), np.inf), axis=1)
    count = valid.sum(axis=1)[:, None]
    h = np.maximum(count - 1, 0) * qs[None, :]
    lo = np.floor(h).astype(int)
    hi = np.ceil(h).astype(int)
    a = np.take_along_axis(keyed, lo, axis=1)
    b = np.take_along_axis(keyed, hi, axis=1)
    below = np.isneginf(a) & (count > 0)  # b is censored only if a is
    with np.errstate(invalid="ignore"):
        value = a + (b - a) * (h - lo)
    value[below | (count == 0)] = np.nan
    return value, below


def _observations(obs_time, obs_dv, obs_blq):
    t = as_floats(obs_time, "obs_time")
    dv = as_floats(obs_dv, "obs_dv")
    if t.ndim != 1 or len(t) == 0:
        raise ParameterError(f"obs_time must be a non-empty 1-D array, got shape {t.shape}; "
                             "give one time per observation")
    if dv.shape != t.shape:
        raise ParameterError(f"obs_dv must have the shape of obs_time {t.shape}, got "
                             f"{dv.shape}; give one value per observation")
    blq = (np.zeros(t.shape, bool) if obs_blq is None
           else np.nan_to_num(as_floats(obs_blq, "obs_blq")) != 0)
    if blq.shape != t.shape:
        raise ParameterError(f"obs_blq must have the shape of obs_time {t.shape}, got "
                             f"{blq.shape}; give one flag per observation")
    if not np.isfinite(t).all():
        raise ParameterError(f"obs_time has {int((~np.isfinite(t)).sum())} non-finite values; "
                             "drop those observations first")
    missing = ~np.isfinite(dv) & ~blq
    if missing.any():
        raise ParameterError(f"obs_dv has {int(missing.sum())} non-finite values not flagged in "
                             "obs_blq: drop missing observations first")
    return t, dv, blq


def _lloq(lloq, n):
    if lloq is None:
        return np.full(n, np.nan)
    limit = as_floats(lloq, "lloq")
    if limit.ndim == 0:
        return np.full(n, float(limit))
    if limit.shape != (n,):
        raise ParameterError(f"lloq must be a scalar or have shape ({n},), got {limit.shape}; "
                             "give one limit, or one per observation")
    return limit


def _quantiles(quantiles):
    qs = as_floats(quantiles, "quantiles")
    if qs.ndim != 1 or len(qs) == 0 or ((qs <= 0) | (qs >= 1)).any() \
            or (np.diff(qs) <= 0).any():
        raise ParameterError(f"quantiles must be increasing levels strictly between 0 and 1, "
                             f"got {quantiles!r}; pass e.g. quantiles=(0.05, 0.5, 0.95)")
    return qs


def _median_finite(values):
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else np.nan


# -- figure ----------------------------------------------------------------------------------

OUTER, MIDDLE = "C0", "C3"


def vpc_figure(stats: pd.DataFrame, *, output: str, unit: str, time_unit: str, log: bool,
               obs: pd.DataFrame | None = None):
    """The VPC of ``output`` (y in ``unit``, time in ``time_unit``) from ``vpc_stats``.

    Upper panel: shaded ``ci`` intervals of the simulated percentiles (outer percentiles
    blue, median red), the observed percentiles as lines over them (median solid, outer
    dashed), the observations themselves faintly when ``obs`` (``TIME, DV`` and optionally
    ``BLQ, LLOQ``) is given, the LLOQ dotted, and the bin edges as ticks on the top axis.
    Where an interval's lower end is below the LLOQ its band is drawn down to the LLOQ; a
    percentile below the LLOQ is not drawn. Lower panel, when any observed or simulated value
    is BLQ: observed fraction below the LLOQ (points) against the simulated median and
    interval.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    stems = _stems(stats)
    shown = stats[stats["n_obs"] > 0].sort_values("t_mid")
    if shown.empty:
        raise ParameterError("stats has no bin with observations: nothing to plot; check "
                             "output= and the observations given to vpc_stats")
    x = shown["t_mid"].to_numpy(dtype=float)
    lloq = shown["lloq"].to_numpy(dtype=float) if "lloq" in shown else np.full(len(x), np.nan)
    any_blq = bool(shown["n_blq"].sum() > 0 or (
        "sim_fblq_hi" in shown and (shown["sim_fblq_hi"] > 0).any()))
    ci = stats.attrs.get("ci")
    middle = min(stems, key=lambda s: abs(s[1] - 0.5))[0] if len(stems) > 1 else None

    fig = Figure(figsize=(8.5, 7.0 if any_blq else 5.6), layout="constrained")
    if any_blq:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    else:
        top, bottom = fig.subplots(1, 1), None
    if log:
        top.set_yscale("log")
    if obs is not None:
        _faint_observations(top, obs, log)
    for stem, _ in stems:
        colour = MIDDLE if stem == middle else OUTER
        lo, hi = (shown[f"sim_{stem}_{k}"].to_numpy(dtype=float) for k in ("lo", "hi"))
        # An interval reaching below the LLOQ is drawn down to the LLOQ, not dropped.
        lo = np.where(np.isnan(lo) & np.isfinite(hi), lloq, lo)
        top.fill_between(x, lo, hi, color=colour, alpha=0.25, lw=0)
        top.plot(x, shown[f"obs_{stem}"], color=colour, lw=2 if stem == middle else 1.5,
                 ls="-" if stem == middle else "--", marker="o", ms=3.5)
    finite = np.isfinite(lloq)
    if finite.any():
        if np.ptp(lloq[finite]) == 0:
            top.axhline(lloq[finite][0], color="k", lw=1, ls=":")
        else:
            top.hlines(lloq[finite], shown["t_lo"][finite], shown["t_hi"][finite], color="k",
                       lw=1, ls=":")
    _edge_ticks(top, stats.attrs.get("edges") or
                np.unique(np.r_[stats["t_lo"].to_numpy(), stats["t_hi"].to_numpy()]))
    top.set_ylabel(axis_label(output, unit))
    if bottom is not None:
        _blq_panel(bottom, shown, x)
    (bottom or top).set_xlabel(axis_label("time", time_unit))

    ci_text = f"{ci:.0%} CI" if ci else "CI"
    outer_names = "/".join(_ordinal(q) for s, q in stems if s != middle)
    handles = []
    if outer_names:
        handles += [Patch(color=OUTER, alpha=0.25, label=f"simulated {outer_names}, {ci_text}"),
                    Line2D([], [], color=OUTER, lw=1.5, ls="--", marker="o", ms=3.5,
                           label=f"observed {outer_names}")]
    if middle is not None or not outer_names:
        handles += [Patch(color=MIDDLE, alpha=0.25, label=f"simulated median, {ci_text}"),
                    Line2D([], [], color=MIDDLE, lw=2, marker="o", ms=3.5,
                           label="observed median")]
    if obs is not None:
        handles.append(Line2D([], [], marker="o", ls="", color="0.5", alpha=0.5,
                              label="observations"))
    if finite.any():
        handles.append(Line2D([], [], color="k", lw=1, ls=":", label="LLOQ"))
    if bottom is not None:
        handles += [Line2D([], [], color="k", lw=1.2, marker="o", ms=4,
                           label="observed fraction < LLOQ"),
                    Line2D([], [], color=OUTER, lw=1.2, ls="--",
                           label=f"simulated fraction < LLOQ: median, {ci_text}")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False, fontsize=9)
    n_rep = stats.attrs.get("n_replicates")
    fig.suptitle(f"{output}: visual predictive check"
                 + (f" ({n_rep} simulated replicates)" if n_rep else ""), fontsize=12)
    return fig


def _stems(stats):
    stems = []
    for column in stats.columns:
        match = re.fullmatch(r"obs_p([0-9.]+)", column)
        if match:
            stems.append((f"p{match.group(1)}", float(match.group(1)) / 100))
    if not stems:
        raise ParameterError("stats has no obs_p* percentile columns: pass the table from "
                             "vpc_stats")
    needed = ["t_mid", "t_lo", "t_hi", "n_obs", "n_blq"] + [
        f"sim_{s}_{k}" for s, _ in stems for k in ("lo", "hi")]
    missing = [c for c in needed if c not in stats.columns]
    if missing:
        raise ParameterError(f"stats is missing column(s) {missing}: pass the table from "
                             "vpc_stats")
    return sorted(stems, key=lambda s: s[1])


def _ordinal(q):
    pct = f"{100 * q:.10g}"
    if pct.endswith("1") and not pct.endswith("11"):
        return f"{pct}st"
    if pct.endswith("2") and not pct.endswith("12"):
        return f"{pct}nd"
    if pct.endswith("3") and not pct.endswith("13"):
        return f"{pct}rd"
    return f"{pct}th"


def _faint_observations(ax, obs, log):
    if "TIME" not in obs or "DV" not in obs:
        raise ParameterError(f"obs needs columns TIME and DV; it has {list(obs.columns)}; "
                             "rename them, or pass obs=None")
    blq = (obs["BLQ"].fillna(0).to_numpy(dtype=float) != 0 if "BLQ" in obs
           else np.zeros(len(obs), bool))
    ax.scatter(obs["TIME"][~blq], obs["DV"][~blq], s=9, color="0.5", alpha=0.35, lw=0,
               zorder=0)
    if blq.any() and "LLOQ" in obs:
        ax.scatter(obs["TIME"][blq], obs["LLOQ"][blq], s=14, marker="v", facecolor="none",
                   edgecolor="0.5", alpha=0.5, lw=0.8, zorder=0)


def _edge_ticks(ax, edges):
    from matplotlib.transforms import blended_transform_factory

    # Short ticks hanging from the top frame mark the bin edges without cluttering the data.
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    ax.vlines(edges, 0.97, 1.0, transform=trans, color="0.3", lw=1)


def _blq_panel(ax, shown, x):
    ax.fill_between(x, shown["sim_fblq_lo"], shown["sim_fblq_hi"], color=OUTER, alpha=0.25,
                    lw=0)
    ax.plot(x, shown["sim_fblq_med"], color=OUTER, lw=1.2, ls="--")
    ax.plot(x, shown["obs_fblq"], color="k", lw=1.2, marker="o", ms=4)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("fraction < LLOQ")
