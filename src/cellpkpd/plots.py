"""Figures a pharmacometrician reads: individual curves against the observations."""

from __future__ import annotations

import math
from pathlib import Path

from .atomic import atomic_path


def plot_individuals(sim, dataset, path, output: str | None = None, log: bool = False):
    """One panel per subject: the simulated ``output`` (default: the first) as a line, the
    observations as points. Written atomically to ``path`` (PNG)."""
    # A bare Figure renders without pyplot, so a notebook's backend is left alone.
    from matplotlib.figure import Figure

    output = output or next(iter(sim.data_vars))
    ids = list(sim["id"].values)
    cols = min(4, len(ids))
    rows = math.ceil(len(ids) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False)
    unit = sim[output].attrs.get("units", "")
    t_unit = sim["time"].attrs.get("units", "")
    table = dataset.table
    for ax, sid in zip(axes.flat, ids, strict=False):
        ax.plot(sim["time"].values, sim[output].sel(id=sid).values, color="C0", lw=1.5,
                label="model")
        obs = table[(table.ID == sid) & (table.EVID == 0) & (table.MDV == 0)]
        ax.plot(obs.TIME, obs.DV, "o", ms=3.5, color="k", label="observed")
        ax.set_title(f"ID {sid}", fontsize=9)
        if log:
            ax.set_yscale("log")
    for ax in axes.flat[len(ids):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(f"time ({t_unit})")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{output} ({unit})")
    axes.flat[0].legend(fontsize=7, frameon=False)
    fig.suptitle(f"{sim.attrs.get('model', '')}: simulated {output} by subject, with observations",
                 fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    return Path(path)
