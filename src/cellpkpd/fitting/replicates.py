"""Replicates of the observed data set simulated from a fit (for visual predictive checks):
per replicate a posterior draw of the population parameters, new random effects for every
subject, and residual error from the fitted error model, at the observed design."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ParameterError
from .likelihood import LOGNORMAL
from .population import (
    eta_from_z,
    individual_theta,
    observation_sigmas,
    predict_observations,
    prior_sites,
)  # fmt: skip


def simulate_replicates(fit, n: int = 100, seed: int = 0, chunk: int = 25) -> np.ndarray:
    """``(n, n_observations)`` simulated observations in the order of ``fit.predict()``;
    NaN where a solve failed. Needs the fit in memory (not one read back by `load_fit`)."""
    record = fit._record
    if record is None:
        raise ParameterError("simulate_replicates needs a fit made in this session (a loaded fit "
                         "has no solver attached); refit, or simulate from its parameters")
    spec, data, solve = record.spec, record.data, record.solve
    post = fit.idata.posterior
    flat = {s: np.asarray(post[s].values).reshape(-1, *post[s].shape[2:])
            for s in prior_sites(spec)}
    n_draws = next(iter(flat.values())).shape[0]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, n_draws, n)
    n_sub, k = data["theta"].shape[0], len(spec.iiv)
    z = rng.standard_normal((n, n_sub, k))
    eps = rng.standard_normal((n, data["obs_dv"].shape[0]))

    def one(values, z1, e1):
        eta = eta_from_z(spec, values, z1)
        theta, valid = individual_theta(spec, values, eta, data)
        f, status = predict_observations(theta, data, solve)
        add, prop = observation_sigmas(spec, values, data)
        is_log = data["obs_kind"] == LOGNORMAL
        y = jnp.where(is_log, f * jnp.exp(prop * e1),
                      f + jnp.sqrt(add**2 + (prop * f) ** 2) * e1)
        ok = ((status == 0) & valid)[data["obs_subject"]]
        return jnp.where(ok & jnp.isfinite(y), y, jnp.nan)

    run = jax.jit(jax.vmap(one))
    out = []
    for start in range(0, n, chunk):
        idx = slice(start, min(start + chunk, n))
        values = {s: jnp.asarray(v[pick[idx]]) for s, v in flat.items()}
        out.append(np.asarray(run(values, jnp.asarray(z[idx]), jnp.asarray(eps[idx]))))
    return np.concatenate(out)
