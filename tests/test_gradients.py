"""Reverse-mode gradients through the solve, lag time and modeled duration included, against
central finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellpkpd as cp

from conftest import table
from models import ORAL_MODIFIERS, ORAL_MODIFIERS_ODE

# Subject 1: a lagged oral dose, then a modeled-duration infusion (RATE=-2) into central, with
# a weight change. Subject 2: oral doses at steady state. Observation times avoid the event times.
DATA = """
    ID,TIME,AMT,CMT,RATE,II,SS,EVID,WT,DV
    1,0,100,1,0,0,0,1,70,.
    1,0.5,0,2,0,0,0,0,70,1
    1,1.9,0,2,0,0,0,0,70,1
    1,3.3,0,2,0,0,0,0,70,1
    1,6,50,2,-2,0,0,1,80,.
    1,6.8,0,2,0,0,0,0,80,1
    1,9.1,0,2,0,0,0,0,80,1
    1,15,0,2,0,0,0,0,80,1
    2,0,80,1,0,12,1,1,70,.
    2,0.4,0,2,0,0,0,0,70,1
    2,2.2,0,2,0,0,0,0,70,1
    2,7.5,0,2,0,0,0,0,70,1
"""


def objective(prob):
    weights = jnp.asarray(np.random.default_rng(1).uniform(0.5, 1.5, (2, 12, 1)))

    def f(theta):
        out, _, _ = prob.solve(theta)
        return jnp.sum(weights[:, : out.shape[1]] * out)

    return f


@pytest.mark.parametrize("model,solver", [
    (ORAL_MODIFIERS, cp.Solver(method="closed_form")),
    (ORAL_MODIFIERS_ODE, cp.Solver(method="tsit5", rtol=1e-12, atol=1e-12)),
], ids=["closed_form", "tsit5"])
def test_gradient_matches_central_differences(model, solver):
    prob = cp.problem(model, table(DATA), solver=solver)
    theta = jnp.asarray(prob.parameters())
    f = objective(prob)
    _, _, status = prob.solve(theta)
    assert not np.any(np.asarray(status))
    grad = np.asarray(jax.jit(jax.grad(f))(theta))
    f_jit = jax.jit(f)
    for j, name in enumerate(model.param_names):  # cl, v, ka, alag, f, dur
        h = 1e-5 * abs(float(theta[0, j]))
        up, down = theta.at[:, j].add(h), theta.at[:, j].add(-h)
        fd = (float(f_jit(up)) - float(f_jit(down))) / (2 * h)
        total = grad[:, j].sum()
        assert np.isfinite(total)
        np.testing.assert_allclose(total, fd, rtol=2e-5, err_msg=f"d/d{name}")
    # Every parameter matters here, so no gradient may be identically zero.
    assert np.all(np.abs(grad.sum(0)) > 0)
