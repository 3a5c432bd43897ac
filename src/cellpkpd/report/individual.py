"""Individual fits: one panel per subject with observations, IPRED and PRED."""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ._checks import axis_label, blq_mask, output_rows, require_columns

OBS_COLUMNS = ("ID", "TIME", "output", "DV", "BLQ", "LLOQ")
CURVE_COLUMNS = ("ID", "TIME", "output", "IPRED", "PRED")

OBSERVED = dict(marker="o", ls="", ms=4.5, color="k", zorder=3)
BLQ_MARK = dict(marker="v", ls="", ms=6, mfc="none", mec="C3", mew=1.2, zorder=3)
LLOQ_LINE = dict(color="C3", lw=0.9, ls=":")
IPRED_LINE = dict(color="C0", lw=1.6)
PRED_LINE = dict(color="0.35", lw=1.2, ls="--")


def individual_figure(pred: pd.DataFrame, curves: pd.DataFrame, output: str, *, unit: str,
                      time_unit: str, log: bool, max_subjects: int = 24, sharey: bool = True):
    """One panel per subject (sorted by ID, at most ``max_subjects``) for ``output``.

    Each panel shows the observations (filled black points, in ``unit``), BLQ observations
    as open red downward triangles drawn at their LLOQ with the LLOQ as a dotted red line,
    the individual prediction IPRED (solid) and the typical-subject prediction PRED
    (dashed) from ``curves`` on its dense time grid. Time in ``time_unit`` is shared across
    panels, and so is the y range unless ``sharey=False``. Log y scale when ``log``.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    require_columns(pred, OBS_COLUMNS, "pred")
    require_columns(curves, CURVE_COLUMNS, "curves")
    if isinstance(max_subjects, bool) or not isinstance(max_subjects, numbers.Integral) \
            or max_subjects < 1:
        raise ParameterError(f"max_subjects must be a whole number >= 1, got {max_subjects!r}; "
                             "pass e.g. max_subjects=12")
    rows = output_rows(pred, output, "pred")
    lines = curves[curves["output"].astype(str) == str(output)]
    ids = sorted(rows["ID"].unique(), key=_id_key)
    shown = ids[:max_subjects]

    cols = min(4, len(shown))
    n_rows = math.ceil(len(shown) / cols)
    fig = Figure(figsize=(2.7 * cols + 0.6, 2.2 * n_rows + 1.1), layout="constrained")
    axes = fig.subplots(n_rows, cols, sharex=True, sharey=sharey, squeeze=False)
    y_seen = []
    for ax, sid in zip(axes.flat, shown, strict=False):
        y_seen.append(_subject(ax, rows[rows["ID"] == sid], lines[lines["ID"] == sid], log))
        ax.set_title(f"ID {sid}", fontsize=9, pad=3)
        ax.tick_params(labelsize=8)
    for ax in _drop_empty(axes, len(shown)):
        # Per-panel labels, not supxlabel: that one collides with the legend below the grid.
        ax.set_xlabel(axis_label("time", time_unit), fontsize=9)
    if log:
        _log_limits(axes.flat[: len(shown)], y_seen, sharey)
    elif sharey and all((np.nan_to_num(v) >= 0).all() for pair in y_seen for v in pair):
        # Sizes, counts and concentrations on a linear axis read best from zero.
        axes.flat[0].set_ylim(bottom=0)

    fig.supylabel(axis_label(output, unit), fontsize=10)
    handles = [Line2D([], [], **OBSERVED, label="observed"),
               Line2D([], [], **IPRED_LINE, label="IPRED"),
               Line2D([], [], **PRED_LINE, label="PRED")]
    if blq_mask(rows).any() or np.isfinite(rows["LLOQ"].to_numpy(dtype=float)).any():
        handles += [Line2D([], [], **BLQ_MARK, label="BLQ (at LLOQ)"),
                    Line2D([], [], **LLOQ_LINE, label="LLOQ")]
    # Once, outside the grid: no panel loses data behind it.
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False,
               fontsize=9)
    count = (f"first {len(shown)} of {len(ids)} subjects" if len(ids) > len(shown)
             else f"{len(ids)} subjects")
    fig.suptitle(f"{output}: individual fits ({count})", fontsize=12)
    return fig


def _id_key(sid):
    # Numeric IDs sort numerically, others as text, and the two never compare directly.
    return (0, float(sid), "") if isinstance(sid, (int, float, np.number)) else (1, 0.0, str(sid))


def _subject(ax, obs, line, log):
    """Draw one subject; return (observations and LLOQ, curve values) for the log y range."""
    if log:
        ax.set_yscale("log")
    line = line.sort_values("TIME")
    ax.plot(line["TIME"], line["IPRED"], **IPRED_LINE)
    ax.plot(line["TIME"], line["PRED"], **PRED_LINE)
    blq = blq_mask(obs)
    seen = obs.loc[~blq, "DV"].to_numpy(dtype=float)
    ax.plot(obs.loc[~blq, "TIME"], seen, **OBSERVED)
    lloq = obs["LLOQ"].to_numpy(dtype=float)
    if blq.any():
        ax.plot(obs.loc[blq, "TIME"], lloq[blq], **BLQ_MARK)
    for level in np.unique(lloq[np.isfinite(lloq)]):
        ax.axhline(level, **LLOQ_LINE)
    curve = line[["IPRED", "PRED"]].to_numpy(dtype=float).ravel()
    return np.concatenate([seen, lloq[np.isfinite(lloq)]]), curve


def _drop_empty(axes, n_shown):
    """Remove the unused grid cells; the panel above each one shows the time ticks instead.
    Returns the lowest panel of each column."""
    n_rows, cols = axes.shape
    for k in range(n_shown, n_rows * cols):
        axes.flat[k].remove()
        if k - cols >= 0:
            axes.flat[k - cols].tick_params(labelbottom=True)
    # The last `cols` panels shown hold exactly one panel of each column, each its lowest.
    return list(axes.flat[max(n_shown - cols, 0):n_shown])


def _log_limits(axes, y_seen, sharey):
    """Bottom of the log y range from the observations and LLOQ, not from the curves: a
    predicted curve falling to 1e-12 after the last sample would otherwise squash the data.
    The top also covers the curves' peaks."""
    def limits(data, curve):
        data = data[np.isfinite(data) & (data > 0)]
        top = np.concatenate([data, curve[np.isfinite(curve) & (curve > 0)]])
        return (data.min() / 3, top.max() * 2) if len(data) else None

    if sharey:
        span = limits(*(np.concatenate(v) for v in zip(*y_seen, strict=True)))
        if span:
            axes[0].set_ylim(*span)
        return
    for ax, (data, curve) in zip(axes, y_seen, strict=True):
        span = limits(data, curve)
        if span:
            ax.set_ylim(*span)
