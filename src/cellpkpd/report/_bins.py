"""Time bins for a VPC: where to put the edges, and which bin each time falls in."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentTypeError, ParameterError

MIN_BINS, MAX_BINS = 6, 10
OBS_PER_BIN = 15  # auto binning aims for about this many observations per bin


def bin_edges(times, bins="auto") -> np.ndarray:
    """Bin edges over ``times``: ``"auto"``, a number of bins, or the edges themselves.

    ``"auto"`` gives every distinct time its own bin when there are at most 10 (a nominal
    sampling design), else 6 to 10 bins of about equal counts. Either way each edge lies
    midway between two distinct times, so every bin holds at least one time and a cluster of
    times around one nominal time is never split when a wider gap is nearby: each cut sits in
    the widest gap between the neighbouring quantiles.
    """
    times = np.asarray(times, dtype=float)
    times = times[np.isfinite(times)]
    if len(times) == 0:
        raise ParameterError("obs_time has no finite values: cannot place VPC bins; give the "
                             "observation times")
    if isinstance(bins, str):
        if bins != "auto":
            raise ParameterError(f'bins must be "auto", a number of bins or edges, got '
                                 f'{bins!r}; pass bins="auto" (the default), e.g. bins=8 or '
                                 f'bins=[0, 1, 4, 24]')
        return _quantile_edges(times, None)
    try:
        edges = np.asarray(bins, dtype=float)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f'bins must be "auto", a number of bins or edges, got '
                                f'{bins!r}') from None
    if edges.ndim == 0:
        if isinstance(bins, bool) or not np.isfinite(edges) or edges != int(edges) or edges < 1:
            raise ParameterError(f"bins as a count must be a positive integer, got {bins!r}; "
                                 "pass e.g. bins=8")
        return _quantile_edges(times, int(edges))
    if edges.ndim != 1 or len(edges) < 2 or not np.isfinite(edges).all() \
            or (np.diff(edges) <= 0).any():
        raise ParameterError(f"bins as edges must be at least 2 finite, strictly increasing "
                             f"times, got {bins!r}; pass e.g. bins=[0, 1, 4, 24]")
    return edges


def assign(times, edges) -> np.ndarray:
    """Bin index of each time (same shape), -1 outside the edges. The last bin is closed."""
    times = np.asarray(times, dtype=float)
    idx = np.searchsorted(edges, times, side="right") - 1
    idx[times == edges[-1]] = len(edges) - 2
    idx[(times < edges[0]) | (times > edges[-1]) | ~np.isfinite(times)] = -1
    return idx


def _quantile_edges(times, n_bins):
    unique = np.unique(times)
    if len(unique) == 1:
        return np.array([unique[0], unique[0]])
    if n_bins is None:
        n_bins = len(unique) if len(unique) <= MAX_BINS else int(
            np.clip(len(times) // OBS_PER_BIN, MIN_BINS, MAX_BINS))
    n_bins = min(n_bins, len(unique))
    if n_bins == len(unique):
        cuts = (unique[:-1] + unique[1:]) / 2
    else:
        cuts = np.unique([_cut(times, unique, j / n_bins, 0.5 / n_bins)
                          for j in range(1, n_bins)])
    return np.concatenate([[unique[0]], cuts, [unique[-1]]])


def _cut(times, unique, q, half_width):
    """The midpoint of the widest gap between distinct times within ``q ± half_width``
    (quantile levels); the gap straddling the ``q`` quantile when there is none."""
    lo_t, hi_t = np.quantile(times, [q - half_width, q + half_width])
    first = np.searchsorted(unique, lo_t, side="left")
    last = np.searchsorted(unique, hi_t, side="right") - 1
    if last > first:
        i = first + int(np.argmax(np.diff(unique[first:last + 1])))
    else:
        i = int(np.searchsorted(unique, np.quantile(times, q), side="right")) - 1
        i = min(max(i, 0), len(unique) - 2)
    return (unique[i] + unique[i + 1]) / 2
