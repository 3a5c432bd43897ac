"""The pointwise log-likelihood: values against scipy, and finite gradients where a prediction
is exactly 0 (a pre-dose qPCR sample of infused cells)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from cellpkpd.fitting.likelihood import LOGNORMAL, pointwise_loglik

NORMAL_KIND = 0 if LOGNORMAL != 0 else 1


def _ll(f, kind, add, prop, dv, lloq, censored, floor=1e-6):
    n = np.shape(f)[0]
    full = lambda v: jnp.full(n, v, dtype=jnp.float64)  # noqa: E731
    return pointwise_loglik(jnp.asarray(f, jnp.float64), jnp.full(n, kind), full(add),
                            full(prop), full(dv), full(lloq), jnp.full(n, censored),
                            full(floor))


@pytest.mark.parametrize("censored", [False, True])
@pytest.mark.parametrize("kind, add, prop", [(NORMAL_KIND, 0.0, 0.3), (NORMAL_KIND, 0.1, 0.3),
                                             (LOGNORMAL, 0.0, 0.5)])
def test_gradient_is_finite_at_a_zero_prediction(kind, add, prop, censored):
    grad = jax.grad(lambda f: jnp.sum(_ll(f, kind, add, prop, 0.5, 1.0, censored)))(
        jnp.array([0.0, 2.0]))
    assert np.all(np.isfinite(np.asarray(grad)))


def test_values_match_scipy():
    f, dv, lloq = np.array([1.5, 3.0]), 2.0, 1.0
    got = _ll(f, NORMAL_KIND, 0.2, 0.1, dv, lloq, False)
    sd = np.sqrt(0.2**2 + (0.1 * f) ** 2)
    np.testing.assert_allclose(got, stats.norm.logpdf(dv, f, sd), rtol=1e-12)
    got = _ll(f, NORMAL_KIND, 0.2, 0.1, dv, lloq, True)
    np.testing.assert_allclose(got, stats.norm.logcdf(lloq, f, sd), rtol=1e-12)
    got = _ll(f, LOGNORMAL, 0.0, 0.4, dv, lloq, False)
    np.testing.assert_allclose(got, stats.lognorm.logpdf(dv, 0.4, scale=f), rtol=1e-12)
    got = _ll(f, LOGNORMAL, 0.0, 0.4, dv, lloq, True)
    np.testing.assert_allclose(got, stats.lognorm.logcdf(lloq, 0.4, scale=f), rtol=1e-12)
