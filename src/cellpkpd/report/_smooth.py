"""A LOWESS smoother for residual plots (no statsmodels)."""

from __future__ import annotations

import numpy as np


def lowess(x, y, *, frac: float = 2 / 3, iterations: int = 2, n_eval: int = 80,
           min_points: int = 8):
    """Robust locally-linear smoother (Cleveland 1979) evaluated on ``n_eval`` points.

    Each fit uses the ``frac`` nearest points with tricube weights; ``iterations`` rounds of
    bisquare reweighting damp outliers. Evaluating on a grid, not at every point, keeps the
    cost at ``n_eval * n`` and the curve smooth where many points share one x (nominal
    times, a typical-subject PRED). For a log axis pass log10(x) and transform ``xs`` back.
    Returns ``(xs, ys)``: empty arrays with fewer than ``min_points`` finite points.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < min_points or np.ptp(x) == 0:
        return np.array([]), np.array([])
    xs = np.linspace(x.min(), x.max(), n_eval)
    k = min(len(x), max(3, int(np.ceil(frac * len(x)))))
    distance = np.abs(xs[:, None] - x[None, :])
    reach = np.partition(distance, k - 1, axis=1)[:, k - 1]
    reach = np.maximum(reach, 1e-12 * np.ptp(x))  # many ties at one x: never divide by zero
    local = np.clip(1 - (distance / reach[:, None]) ** 3, 0, None) ** 3
    robust = np.ones_like(y)
    for step in range(iterations + 1):
        ys = _local_linear(xs, x, y, local * robust[None, :])
        if step == iterations:
            break
        residual = y - np.interp(x, xs, ys)
        scale = 6 * np.median(np.abs(residual))
        if scale == 0:
            break
        robust = np.clip(1 - (residual / scale) ** 2, 0, None) ** 2
    return xs, ys


def _local_linear(xs, x, y, w):
    sw, sx, sy = w.sum(1), w @ x, w @ y
    sxx, sxy = w @ (x * x), w @ (x * y)
    with np.errstate(invalid="ignore", divide="ignore"):
        det = sw * sxx - sx**2
        slope = np.where(np.abs(det) > 1e-12 * sw**2 * max(np.ptp(x), 1e-300) ** 2,
                         (sw * sxy - sx * sy) / det, 0.0)
        return np.where(sw > 0, (sy - slope * sx) / sw + slope * xs, np.nan)
