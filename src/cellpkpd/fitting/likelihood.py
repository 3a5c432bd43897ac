"""Residual error models and the M3 likelihood for censored observations, per observation.

For a prediction f and an observation y:

- additive: y ~ Normal(f, a);
- proportional: y ~ Normal(f, b|f|);
- combined: y ~ Normal(f, sqrt(a^2 + (b f)^2)) (variances add, as NONMEM's usual form);
- lognormal: log y ~ Normal(log f, s); the density is of y, so it includes -log y.

A censored observation (BLQ, or DV < LLOQ) contributes P(Y < LLOQ) (Beal's M3):
log Phi((LLOQ - f)/sd), or log Phi((log LLOQ - log f)/s) for the log-normal model.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import log_ndtr

ADDITIVE, PROPORTIONAL, COMBINED, LOGNORMAL = 0, 1, 2, 3
KIND_CODES = {"additive": ADDITIVE, "proportional": PROPORTIONAL, "combined": COMBINED,
              "lognormal": LOGNORMAL}
_LOG_2PI = 1.8378770664093453


def pointwise_loglik(f, kind, add, prop, dv, lloq, censored, floor):
    """Log-likelihood of each observation (arrays of one entry per observation).

    ``add`` and ``prop`` are the additive SD and the proportional (or log-scale, for
    log-normal) SD of each observation's error model, 0 where the model has no such part.
    ``floor`` bounds the normal SD below, so that a prediction of exactly 0 under a
    proportional model gives a large finite penalty, not a NaN.
    """
    is_log = kind == LOGNORMAL
    # The floor goes inside the square root: sqrt'(0) is infinite, and 0 * inf would make the
    # gradient NaN wherever f = 0 (a pre-dose qPCR sample), even where the floor applies.
    sd = jnp.sqrt(jnp.maximum(add**2 + (prop * f) ** 2, floor**2))
    y = jnp.where(censored, lloq, dv)
    y = jnp.where(jnp.isfinite(y), y, 0.0)

    z = (y - f) / sd
    normal = jnp.where(censored, log_ndtr(z), -0.5 * z**2 - jnp.log(sd) - 0.5 * _LOG_2PI)

    tiny = 1e-300
    log_f = jnp.log(jnp.maximum(jnp.where(is_log, f, 1.0), tiny))
    log_y = jnp.log(jnp.where(is_log & (y > 0), y, 1.0))
    s = jnp.where(is_log, prop, 1.0)
    zl = (log_y - log_f) / s
    lognormal = jnp.where(censored, log_ndtr(zl),
                          -0.5 * zl**2 - jnp.log(s) - 0.5 * _LOG_2PI - log_y)
    return jnp.where(is_log, lognormal, normal)
