"""Normalised prediction distribution errors (NPDE): a population weighted residual from
simulated replicates of the data, for fits where CWRES (a FOCE linearisation) does not exist.

For each group (a subject, or a subject and output) with observations ``y`` (n values) and K
simulated vectors ``y_k`` of the same design (Brendel et al., Pharm Res 2006; Comets et al.,
Comput Methods Programs Biomed 2008):

* ``E`` and ``V`` are the mean and the empirical covariance (divisor K − 1) of the ``y_k``;
* with ``L`` the lower Cholesky factor of ``V`` (``V = L Lᵀ``), the decorrelated vectors are
  ``y* = L⁻¹ (y − E)`` and ``y_k* = L⁻¹ (y_k − E)``;
* ``pde_j`` is the fraction of the ``y_kj*`` below ``y_j*``, set to 1/(2K) when it is 0 and to
  1 − 1/(2K) when it is 1, and ``npde_j = Φ⁻¹(pde_j)``.

Under the model the npde are independent N(0, 1). The npd (prediction discrepancies) are the
same without the decorrelation: correlated within a subject, but defined even where ``V`` is
singular.

Censored values (BLQ) follow the "cdf" method of Nguyen et al. (AAPS J 2012), as the R package
npde does: with ``p_LOQ`` the fraction of simulated values below the row's LLOQ, a BLQ
observation's pd is drawn uniformly in ``[0, p_LOQ]`` and the observation is imputed at that
quantile of the simulated values below the LLOQ (linear between the order statistics and the
LLOQ, so imputed values never tie). Every simulated value below its row's LLOQ is imputed the
same way, so observed and simulated vectors stay exchangeable under the model before the
decorrelation. The draws come from ``seed`` alone.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..errors import ParameterError
from ._checks import as_floats

#: Decorrelation is refused when the covariance is this close to singular (smallest squared
#: Cholesky pivot over the largest variance): the npde would be rounding noise.
SINGULAR = 1e-12


def npde(observed, replicates, groups=None, *, blq=None, lloq=None,
         seed: int = 0) -> pd.DataFrame:
    """NPDE and NPD of ``observed`` against simulated ``replicates``.

    Parameters
    ----------
    observed : array (n,)
        Observations; ignored (may be NaN) where ``blq``.
    replicates : array (K, n)
        Simulated observations at the same design, one row per replicate (e.g.
        `cellpkpd.fitting.replicates.simulate_replicates`); a replicate with a NaN (a failed
        solve) is left out of the groups where it has one.
    groups : array (n,), optional
        Group label per observation: the observations decorrelated together (a subject, or a
        subject and output). Default: one group.
    blq : array of bool (n,), optional
        Censored observations (below the LLOQ).
    lloq : array (n,) or float, optional
        Lower limit of quantification per observation, in the observation's unit. Needed for
        BLQ rows; simulated values below a finite LLOQ are imputed (see the module notes).
    seed : int
        Seed of the BLQ imputation draws.

    Returns
    -------
    pandas.DataFrame
        One row per observation, in order: ``PD`` and ``NPD`` (no decorrelation), ``PDE`` and
        ``NPDE``, ``DV_IMPUTED`` (the observation, imputed where BLQ) and ``K`` (replicates
        used). ``PDE``/``NPDE`` are NaN, with a warning, for a value every replicate shares
        (left out of its group's decorrelation) and for a whole group whose covariance is
        singular (no more replicates than observations); ``PD``/``NPD`` are NaN only for a
        group without 2 complete replicates.
    """
    y, sims, groups, blq, lloq = _checked(observed, replicates, groups, blq, lloq)
    n = y.size
    k_all = sims.shape[0]
    rng = np.random.default_rng(seed)
    # Drawn for every row and used where censored, so a row's draws depend on its position
    # only, not on how many rows before it are censored.
    u_obs = rng.random(n)
    u_sim = rng.random((k_all, n))
    out = {name: np.full(n, np.nan) for name in ("PD", "NPD", "PDE", "NPDE", "DV_IMPUTED")}
    out["K"] = np.zeros(n, dtype=int)
    singular, constant = [], 0
    for label in pd.unique(groups):
        rows = np.flatnonzero(groups == label)
        complete = np.isfinite(sims[:, rows]).all(axis=1)
        ys = sims[np.ix_(complete, rows)]
        k = ys.shape[0]
        out["K"][rows] = k
        if k < 2:
            singular.append(label)
            continue
        yo, ys, p_obs = _censor_and_impute(y[rows], ys, blq[rows], lloq[rows], u_obs[rows],
                                           u_sim[np.ix_(complete, rows)])
        out["DV_IMPUTED"][rows] = yo
        out["PD"][rows] = _bounded(p_obs, k)
        pde = _pde(yo, ys)
        if pde is None:
            singular.append(label)
        else:
            out["PDE"][rows] = _bounded(pde, k)
            constant += int(np.isnan(pde).sum())
    out["NPD"] = norm.ppf(out["PD"])
    out["NPDE"] = norm.ppf(out["PDE"])
    if singular:
        warnings.warn(
            f"NPDE undefined for {len(singular)} group(s) {list(singular)[:10]}: the covariance "
            "of their replicates is singular (no more complete replicates than observations); "
            "simulate more replicates, or use the NPD",
            RuntimeWarning, stacklevel=2)
    if constant:
        warnings.warn(
            f"NPDE undefined for {constant} observation(s) where every replicate has the same "
            "value (e.g. a zero baseline); they are left out of their subject's decorrelation",
            RuntimeWarning, stacklevel=2)
    return pd.DataFrame(out)


def _checked(observed, replicates, groups, blq, lloq):
    y = as_floats(observed, "observed").reshape(-1)
    n = y.size
    sims = as_floats(replicates, "replicates")
    if sims.ndim != 2 or sims.shape[1] != n:
        raise ParameterError(f"replicates must be (K, {n}): one row per replicate, one column "
                             f"per observation; got shape {sims.shape}")
    groups = np.zeros(n, dtype=int) if groups is None else np.asarray(groups).reshape(-1)
    blq = np.zeros(n, dtype=bool) if blq is None else np.asarray(blq, dtype=bool).reshape(-1)
    lloq = as_floats(np.nan if lloq is None else lloq, "lloq")
    if lloq.ndim > 1 or lloq.size not in (1, n):
        raise ParameterError(f"lloq must be a scalar or one value per observation ({n}), got "
                             f"shape {lloq.shape}")
    lloq = np.broadcast_to(lloq.reshape(-1), (n,)).copy()
    for name, value in (("groups", groups), ("blq", blq)):
        if value.size != n:
            raise ParameterError(f"{name} must have one value per observation ({n}), got "
                                 f"{value.size}; give one per observation, or leave "
                                 f"{name}=None")
    bad = np.flatnonzero(~blq & ~np.isfinite(y))
    if bad.size:
        raise ParameterError(f"observed is not finite at observation(s) {bad[:10].tolist()} "
                             "that are not BLQ; flag censored rows with blq= (and their "
                             "lloq=), or drop missing ones")
    bad = np.flatnonzero(blq & ~np.isfinite(lloq))
    if bad.size:
        raise ParameterError(f"BLQ observation(s) {bad[:10].tolist()} have no finite lloq; "
                             "give lloq= per observation")
    return y, sims, groups, blq, lloq


def _censor_and_impute(y, ys, blq, lloq, u_obs, u_sim):
    """Observed and simulated values with BLQ values imputed, and the observed pd."""
    k = ys.shape[0]
    p_obs = (ys < y).mean(axis=0)
    y, ys = y.copy(), ys.copy()
    for j in np.flatnonzero(np.isfinite(lloq)):
        column = np.sort(ys[:, j])
        below = column[column < lloq[j]]
        # Piecewise-linear inverse of the empirical CDF below the LLOQ: the order statistics
        # at positions 0..m-1, the LLOQ itself at position m (a quantile p maps to p·K).
        grid = np.append(below, lloq[j])
        p_loq = below.size / k
        if blq[j]:
            p_obs[j] = u_obs[j] * p_loq
            y[j] = np.interp(p_obs[j] * k, np.arange(grid.size), grid)
        censored = ys[:, j] < lloq[j]
        if censored.any():
            ys[censored, j] = np.interp(u_sim[censored, j] * p_loq * k,
                                        np.arange(grid.size), grid)
    return y, ys, p_obs


def _pde(y, ys):
    """Fraction of decorrelated simulated values below the decorrelated observation, NaN
    where every replicate has the same value (a zero baseline, say: no distribution to rank
    against); None when the covariance of the other values is singular."""
    pde = np.full(y.size, np.nan)
    varying = np.ptp(ys, axis=0) > 0
    if not varying.any():
        return pde
    y, ys = y[varying], ys[:, varying]
    mean = ys.mean(axis=0)
    cov = np.atleast_2d(np.cov(ys, rowvar=False))
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None
    if np.diag(chol).min() ** 2 <= SINGULAR * np.diag(cov).max():
        return None
    # One solve for the observation (column 0) and the K replicates.
    dec = np.linalg.solve(chol, np.column_stack([y, ys.T]) - mean[:, None])
    pde[varying] = (dec[:, 1:] < dec[:, :1]).mean(axis=1)
    return pde


def _bounded(p, k: int):
    """0 and 1 moved to 1/(2K) and 1 − 1/(2K), so Φ⁻¹ stays finite."""
    return np.clip(p, 1 / (2 * k), 1 - 1 / (2 * k))


def add_npde(pred: pd.DataFrame, replicates, *, seed: int = 0) -> pd.DataFrame:
    """``pred`` (a `Fit.predict` table: ``ID``, ``output``, ``DV``, ``BLQ``, ``LLOQ``) with
    ``NPDE`` and ``NPD`` columns, decorrelated per subject within each output (as the GOF
    figure computes them, so the same ``seed`` gives the same values); ``replicates`` is
    ``(K, len(pred))`` in the row order of ``pred``."""
    missing = [c for c in ("ID", "output", "DV", "BLQ") if c not in pred.columns]
    if missing:
        raise ParameterError(f"pred is missing column(s) {missing}; it has "
                             f"{list(pred.columns)}; pass the table of Fit.predict")
    sims = as_floats(replicates, "replicates")
    if sims.ndim != 2 or sims.shape[1] != len(pred):
        raise ParameterError(f"replicates must be (K, {len(pred)}), one column per row of "
                             f"pred; got shape {sims.shape}")
    values = {name: np.full(len(pred), np.nan) for name in ("NPDE", "NPD")}
    outputs = pred["output"].astype(str).to_numpy()
    for output in dict.fromkeys(outputs):
        rows = np.flatnonzero(outputs == output)
        sub = pred.iloc[rows]
        result = npde(sub["DV"].to_numpy(dtype=float), sims[:, rows], sub["ID"].to_numpy(),
                      blq=sub["BLQ"].fillna(0).to_numpy(dtype=float) != 0,
                      lloq=sub["LLOQ"].to_numpy(dtype=float) if "LLOQ" in sub else None,
                      seed=seed)
        for name, column in values.items():
            column[rows] = result[name].to_numpy()
    return pred.assign(**values)
