"""Sampler diagnostics: trace and rank plot of each population parameter."""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from ..errors import ArgumentTypeError, ParameterError
from ._checks import axis_label


def trace_rank_figure(idata, var_names, *, bins: int = 20):
    """One row per population parameter (per element for vector parameters).

    Left: the trace of every chain (one colour each; y in the parameter's ``units`` attribute
    when it has one). Right: the rank plot, as ArviZ ``plot_rank``: the draws of all chains
    are ranked together and each chain's ranks are histogrammed in ``bins`` bins, scaled so
    1 (the dashed line) is what well-mixed chains give. The title carries rank-normalised
    split R-hat and bulk ESS. A single chain (MAP/Laplace fits) shows the trace only.

    ``idata`` is an ArviZ ``InferenceData`` (its posterior is used) or an xarray Dataset
    with ``chain`` and ``draw`` dimensions.
    """
    from matplotlib.figure import Figure

    posterior = _posterior(idata)
    rows = list(_components(posterior, var_names))
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    multi = n_chain > 1

    fig = Figure(figsize=(10.0 if multi else 7.0, 1.85 * len(rows) + 0.9), layout="constrained")
    axes = fig.subplots(len(rows), 2 if multi else 1, squeeze=False,
                        width_ratios=[2.2, 1] if multi else None)
    chains = list(posterior["chain"].values)
    for (label, unit, draws), ax_row in zip(rows, axes, strict=True):
        rhat, ess = _diagnostics(draws)
        trace = ax_row[0]
        for c in range(n_chain):
            trace.plot(np.arange(n_draw), draws[c], color=f"C{c % 10}", lw=0.6, alpha=0.8)
        trace.set_ylabel(axis_label(label, unit), fontsize=9)
        trace.set_xlim(0, max(n_draw - 1, 1))
        title = f"{label}:  ESS bulk {_fmt(ess, '.0f')}"
        if multi:
            title = f"{label}:  R-hat {_fmt(rhat, '.3f')},  ESS bulk {_fmt(ess, '.0f')}"
            _rank_panel(ax_row[1], draws, bins, chains)
        trace.set_title(title, fontsize=10, loc="left")
        for ax in ax_row:
            ax.tick_params(labelsize=8)
    axes[-1, 0].set_xlabel("draw")
    if multi:
        axes[-1, 1].set_xlabel("rank of draw (all chains pooled)")
        fig.suptitle(f"MCMC traces and rank plots ({n_chain} chains × {n_draw} draws)",
                     fontsize=12)
    else:
        fig.suptitle(f"Draws ({n_draw}; single chain: no rank plot, no R-hat)", fontsize=12)
    return fig


def _posterior(idata):
    import xarray as xr

    posterior = idata if isinstance(idata, xr.Dataset) else getattr(idata, "posterior", None)
    if not isinstance(posterior, xr.Dataset):
        raise ArgumentTypeError("idata must be an ArviZ InferenceData with a posterior group "
                                f"or an xarray Dataset, got {type(idata).__name__}; pass a "
                                "fit's idata or its posterior.nc read with arviz.from_netcdf")
    missing = [d for d in ("chain", "draw") if d not in posterior.dims]
    if missing:
        raise ParameterError(f"idata's posterior lacks dimension(s) {missing}; it has "
                             f"{list(posterior.dims)}; pass draws with dims (chain, draw, ...)")
    return posterior


def _components(posterior, var_names):
    """(label, unit, (chain, draw) array) for each scalar element of each variable."""
    names = [var_names] if isinstance(var_names, str) else list(var_names or [])
    if not names:
        raise ParameterError(f"var_names is empty: name at least one posterior variable, "
                             f"from {sorted(posterior.data_vars)}")
    missing = [n for n in names if n not in posterior.data_vars]
    if missing:
        raise ParameterError(f"var_names {missing} not in the posterior; it has "
                             f"{sorted(posterior.data_vars)}; pick var_names from those")
    for name in names:
        da = posterior[name].transpose("chain", "draw", ...)
        unit = da.attrs.get("units") or None
        extra = da.dims[2:]
        if not extra:
            yield name, unit, da.values
            continue
        labels = [da[d].values if d in da.coords else range(da.sizes[d]) for d in extra]
        for index in itertools.product(*(range(da.sizes[d]) for d in extra)):
            element = ",".join(str(labels[k][i]) for k, i in enumerate(index))
            yield f"{name}[{element}]", unit, da.values[(slice(None), slice(None), *index)]


def _diagnostics(draws):
    import arviz as az

    # Constant or too-short chains give NaN with a warning; NaN is shown as "n/a".
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = float(az.ess(draws, method="bulk")) if draws.shape[1] > 3 else np.nan
        rhat = float(az.rhat(draws)) if draws.shape[0] > 1 and draws.shape[1] > 3 else np.nan
    return rhat, ess


def _rank_panel(ax, draws, bins, chains):
    from scipy.stats import rankdata

    n_chain, n_draw = draws.shape
    ranks = rankdata(draws.ravel()).reshape(draws.shape)
    edges = np.linspace(0, ranks.size, bins + 1)
    expected = n_draw / bins
    counts = np.array([np.histogram(r, edges)[0] for r in ranks]) / expected
    # Each chain sits on its own baseline, far enough apart that bars never overlap.
    step = 1.15 * max(counts.max(), 1.0)
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    for c in range(n_chain):
        ax.bar(centres, counts[c], width=width, bottom=c * step, color=f"C{c % 10}",
               alpha=0.8, edgecolor="white", linewidth=0.4)
        ax.axhline(c * step + 1, color="k", lw=0.8, ls="--")
    ax.set_yticks([c * step for c in range(n_chain)], [str(c) for c in chains])
    ax.set_ylabel("chain", fontsize=9)
    ax.set_xlim(0, ranks.size)


def _fmt(value, spec):
    return format(value, spec) if np.isfinite(value) else "n/a"
