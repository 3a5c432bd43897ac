"""Goodness-of-fit panels for one output of a population fit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ._checks import as_floats, axis_label, blq_mask, not_shown, output_rows, require_columns
from ._smooth import lowess
from .npde import npde

PRED_COLUMNS = ("ID", "TIME", "output", "DV", "BLQ", "PRED", "IPRED")
# Population weighted residuals, best first; IWRES is the last resort and labelled as such.
POPULATION_RESIDUALS = ("CWRES", "NPDE", "PWRES", "WRES")

POINT = dict(s=14, color="C0", alpha=0.6, linewidths=0)
SMOOTH = dict(color="C3", lw=1.8)
BLQ_POINT = dict(marker="^", s=22, facecolors="none", edgecolors="C1", linewidths=1)


def population_residual(pred: pd.DataFrame) -> tuple[str, str]:
    """The residual column to plot against time and PRED, and its axis label: the first of
    CWRES, NPDE, PWRES, WRES with any finite value, else IWRES (said so in the label)."""
    for column in POPULATION_RESIDUALS:
        if column in pred.columns and np.isfinite(pred[column].to_numpy(dtype=float)).any():
            return column, column
    if "IWRES" in pred.columns:
        return "IWRES", "IWRES (no population residual in the table)"
    raise ParameterError("pred needs a residual column: one of "
                         f"{[*POPULATION_RESIDUALS, 'IWRES']}; it has {list(pred.columns)}; "
                         "pass the table of Fit.predict")


def gof_figure(pred: pd.DataFrame, output: str, *, unit: str, time_unit: str, log: bool,
               replicates=None, seed: int = 0):
    """Four goodness-of-fit panels for ``output`` (in ``unit``, time in ``time_unit``).

    * top left: observed DV against the typical-subject prediction PRED, identity line;
    * top right: observed DV against the individual prediction IPRED, identity line;
      both with the same range on both axes (log-log when ``log``), BLQ rows left out and
      counted in the title;
    * bottom left: a population weighted residual against time, with a LOWESS smoother: the
      NPDE computed from ``replicates`` when given (per subject, see `report.npde.npde`; BLQ
      rows imputed and drawn as open triangles; reference lines 0 and ±1.96), else the
      table's CWRES, NPDE, PWRES or WRES column, else IWRES (said so in the label; reference
      lines 0 and ±2, or ±1.96 for NPDE);
    * bottom right: the same residual against PRED (log x when ``log``).

    ``replicates`` is ``(K, len(pred))``: simulated observations in the row order of
    ``pred`` (`cellpkpd.fitting.replicates.simulate_replicates`); ``seed`` seeds the BLQ
    imputation of the NPDE.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    require_columns(pred, PRED_COLUMNS, "pred")
    rows = output_rows(pred, output, "pred")
    blq = blq_mask(rows)
    if replicates is None:
        res_column, res_label = population_residual(rows)
        res = rows[res_column].to_numpy(dtype=float)
        imputed = np.zeros(len(rows), dtype=bool)
    else:
        res_column = res_label = "NPDE"
        res = _npde(pred, output, rows, blq, replicates, seed)
        imputed = blq
    level = 1.96 if res_column == "NPDE" else 2.0
    dv, p, ip = (rows[c].to_numpy(dtype=float) for c in ("DV", "PRED", "IPRED"))

    fig = Figure(figsize=(9.5, 8.8), layout="constrained")
    (a_pred, a_ipred), (a_time, a_rpred) = fig.subplots(2, 2)
    _observed_vs(a_pred, p, dv, blq, "PRED", "population prediction", unit=unit, log=log)
    _observed_vs(a_ipred, ip, dv, blq, "IPRED", "individual prediction", unit=unit, log=log)
    common = dict(ylabel=res_label, level=level, imputed=imputed)
    _residual_vs(a_time, rows["TIME"].to_numpy(dtype=float), res, blq,
                 title=f"{res_column} vs time", xlabel=axis_label("time", time_unit),
                 log_x=False, **common)
    _residual_vs(a_rpred, p, res, blq, title=f"{res_column} vs PRED",
                 xlabel=axis_label("PRED", unit), log_x=log, **common)

    handles = [
        Line2D([], [], marker="o", ls="", color="C0", alpha=0.6, label="observation"),
        *([Line2D([], [], marker="^", ls="", markerfacecolor="none", markeredgecolor="C1",
                  label="BLQ, imputed")] if imputed.any() else []),
        Line2D([], [], color="k", lw=1, label="identity / zero"),
        Line2D([], [], color="0.4", lw=1, ls="--", label=f"±{level:g}"),
        Line2D([], [], **SMOOTH, label="LOWESS"),
    ]
    # Below the panels, so the legend never hides a point.
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False,
               fontsize=9)
    n_id = rows["ID"].nunique()
    fig.suptitle(f"{output}: goodness of fit ({len(rows)} observations, {n_id} subjects"
                 f"{f', {blq.sum()} BLQ' if blq.any() else ''})", fontsize=12)
    return fig


def _npde(pred, output, rows, blq, replicates, seed):
    """NPDE of the rows of one output, decorrelated per subject."""
    sims = as_floats(replicates, "replicates")
    if sims.ndim != 2 or sims.shape[1] != len(pred):
        raise ParameterError(f"replicates must be (K, {len(pred)}), one column per row of "
                             f"pred; got shape {sims.shape}")
    if blq.any() and "LLOQ" not in rows.columns:
        raise ParameterError("pred has BLQ rows but no LLOQ column; the NPDE imputes BLQ "
                             "rows below the LLOQ, so add it")
    position = np.flatnonzero((pred["output"].astype(str) == str(output)).to_numpy())
    lloq = rows["LLOQ"].to_numpy(dtype=float) if "LLOQ" in rows.columns else None
    with warnings.catch_warnings():
        # A subject without a defined NPDE is counted in the panel titles instead.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = npde(rows["DV"].to_numpy(dtype=float), sims[:, position],
                      rows["ID"].to_numpy(), blq=blq, lloq=lloq, seed=seed)
    return result["NPDE"].to_numpy()


def _title(ax, title: str, counts: dict[str, int]) -> None:
    note = not_shown(counts)
    ax.set_title(title + (f"\n({note})" if note else ""), fontsize=10)


def _observed_vs(ax, x, dv, blq, name, what, *, unit, log):
    keep = ~blq & np.isfinite(dv) & np.isfinite(x)
    counts = {"BLQ": int(blq.sum())}
    if log:
        positive = (dv > 0) & (x > 0)
        counts["≤ 0"] = int((keep & ~positive).sum())
        keep &= positive
    x, y = x[keep], dv[keep]
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.scatter(x, y, **POINT)
    if len(x):
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        # Same limits on both axes and a square box: the identity line is the diagonal.
        if log:
            lo, hi = lo / 1.6, hi * 1.6
        else:
            pad = 0.05 * (hi - lo or abs(hi) or 1.0)
            lo, hi = lo - pad, hi + pad
        ax.plot([lo, hi], [lo, hi], color="k", lw=1)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    ax.set_box_aspect(1)
    ax.set_xlabel(axis_label(name, unit))
    ax.set_ylabel(axis_label("DV", unit))
    _title(ax, f"observed vs {what}", counts)


def _residual_vs(ax, x, res, blq, *, title, xlabel, ylabel, log_x, level, imputed):
    shown = ~blq | imputed
    keep = shown & np.isfinite(res) & np.isfinite(x)
    counts = {"BLQ": int((~shown).sum()),
              "undefined": int((shown & ~np.isfinite(res)).sum())}
    if log_x:
        counts["PRED ≤ 0"] = int((keep & (x <= 0)).sum())
        keep &= x > 0
        ax.set_xscale("log")
    ax.axhline(0, color="k", lw=1)
    for sign in (-1, 1):
        ax.axhline(sign * level, color="0.4", lw=1, ls="--")
    ax.scatter(x[keep & ~imputed], res[keep & ~imputed], **POINT)
    if imputed.any():
        ax.scatter(x[keep & imputed], res[keep & imputed], **BLQ_POINT)
    x, r = x[keep], res[keep]
    # On a log axis the smoother works on log10(x), the scale the reader sees.
    xs, ys = lowess(np.log10(x) if log_x else x, r)
    ax.plot(10**xs if log_x else xs, ys, **SMOOTH)
    # Symmetric about zero and never tighter than ±3, so the reference lines are always in view.
    top = max(3.0, 1.08 * np.abs(r).max()) if len(r) else 3.0
    ax.set_ylim(-top, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _title(ax, title, counts)
