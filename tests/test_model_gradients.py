"""Gradients of every output with respect to every parameter of the mechanistic models: finite
everywhere, and equal to central finite differences on a sample of parameters.

The Jacobian comes from the path fitting differentiates with: forward sensitivities through
Rodas4 and its custom tangent rule, every parameter a column. (Reverse mode through Kvaerno5
checked the same claim at twice the compile time; the two agreed to 5e-10 on msc_ifna.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import cellpkpd as cp
from cellpkpd.sensitivities import sensitivity_solver

HALF_HOUR = 1.0 / 48.0
SOLVER = cp.Solver(method="rodas4", rtol=1e-9, atol=1e-11, max_steps=100_000)

# model -> (doses (time, CMT, amount, duration), output times, parameters checked against FD)
CASES = {
    "msc_ifna": (
        [(-2.0, "pac_central", 225000.0, HALF_HOUR), (-1.0, "cyc_central", 360.0, HALF_HOUR),
         (0.0, "msc_blood", 1.4e8, HALF_HOUR), (0.5, "pd1_central", 200.0, HALF_HOUR)],
        [0.25, 1.0, 3.0], ["k_bl", "s_ifn", "vmel_pac", "k_pd1", "lam", "gamma_anc"]),
    "singh2021_idecel": ([(0.0, "carte_pb", 4.5e8, 0.0)], [1.0, 7.0, 28.0],
                         ["kexp_max", "koff", "kg", "gam_m"]),
    "nkg2d_carnk_mm": ([(0.0, "e_pb", 1e9, 0.0)], [1.0, 7.0, 28.0],
                       ["kexp_max", "ag_tumor", "p_il6", "kel_e"]),
    "stein2019_cart": ([(0.0, "e", 1.0, 0.0)], [5.0, 12.0, 60.0],
                       ["tmax", "foldx", "alpha", "fb"]),
}


def problem(name):
    doses, times, _ = CASES[name]
    rows = [dict(ID=1, TIME=min(d[0] for d in doses), EVID=2, AMT=0.0, CMT=".", RATE=0.0)]
    rows += [dict(ID=1, TIME=t, EVID=1, AMT=a, CMT=cmt, RATE=a / d if d else 0.0)
             for t, cmt, a, d in doses]
    model = cp.load_model(name)
    return model, cp.problem(model, pd.DataFrame(rows), times=times, solver=SOLVER)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_output_has_a_finite_gradient_matching_finite_differences(name):
    model, prob = problem(name)
    theta0 = prob.parameters(None)
    grid_rows = np.flatnonzero(prob.events.record_grid[0] >= 0)
    ev = prob.events
    every_column = tuple(range(len(model.param_names)))
    solve = sensitivity_solver(model, prob.solver, ev.n_overlap, ev.has_periodic_ss,
                               ev.has_constant_ss, every_column)
    arrays = {k: jnp.asarray(v) for k, v in ev.arrays.items()}

    @jax.jit
    def outputs(log_theta):
        out, _, status = solve(jnp.exp(log_theta), arrays)
        return out[0, grid_rows, :], status

    log_theta = jnp.log(jnp.asarray(theta0))
    values, status = outputs(log_theta)
    assert int(status[0]) == 0
    # d output / d log(parameter): every output, every time, every parameter.
    jac = jax.jit(jax.jacfwd(lambda lt: outputs(lt)[0]))(log_theta)[:, :, 0, :]
    assert np.all(np.isfinite(jac)), "non-finite gradient"
    names = list(model.param_names)
    h = 1e-4
    for pname in CASES[name][2]:
        k = names.index(pname)
        step = jnp.zeros_like(log_theta).at[0, k].set(h)
        fd = (outputs(log_theta + step)[0] - outputs(log_theta - step)[0]) / (2 * h)
        scale = np.abs(np.asarray(values)).max(axis=0) + 1e-300
        np.testing.assert_allclose(jac[:, :, k] / scale, np.asarray(fd) / scale, rtol=1e-4,
                                   atol=1e-6, err_msg=f"d/d{pname}")
    # The sample is informative: each checked parameter moves some output.
    for pname in CASES[name][2]:
        assert np.abs(jac[:, :, names.index(pname)]).max() > 0, pname
