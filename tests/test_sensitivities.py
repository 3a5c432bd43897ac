"""Forward-mode sensitivities of a batch solve (what fitting differentiates ODE models with)
against reverse mode through the solver and against central finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellpkpd as cp
from cellpkpd.sensitivities import adjoint_solver, sensitivity_solver

from conftest import table

DATA = """
ID,TIME,AMT,CMT,RATE,EVID
1,0,100,1,0,1
1,0.5,.,1,.,0
1,2,.,1,.,0
1,6,.,1,.,0
1,12,50,1,25,1
1,24,.,1,.,0
2,0,300,1,0,1
2,1,.,1,.,0
2,8,.,1,.,0
2,30,.,1,.,0
"""


@pytest.fixture(scope="module")
def setup():
    model = cp.load_model("pk_1cmt_mm")
    prob = cp.problem(model, table(DATA), solver=cp.Solver(method="kvaerno5", rtol=1e-10,
                                                             atol=1e-12))
    ev = prob.events
    names = [p.name for p in model.params]
    columns = tuple(sorted(names.index(n) for n in ("vmax", "km")))
    fast = sensitivity_solver(model, prob.solver, ev.n_overlap, ev.has_periodic_ss,
                              ev.has_constant_ss, columns)
    arrays = {k: jnp.asarray(v) for k, v in ev.arrays.items()}
    theta = jnp.asarray(prob.parameters()) * jnp.array([[1.0], [1.3]])
    return prob, fast, arrays, theta, columns


def _loss(solve, arrays):
    return lambda th: jnp.sum(jnp.log(solve(th, arrays)[0][..., 0] + 1.0) ** 2)


def test_values_and_reverse_gradient_match_reverse_mode_through_the_solver(setup):
    prob, fast, arrays, theta, columns = setup
    out_fast = fast(theta, arrays)[0]
    out_ref = prob.compiled(theta, arrays)[0]
    np.testing.assert_array_equal(np.asarray(out_fast), np.asarray(out_ref))
    v1, g1 = jax.value_and_grad(_loss(fast, arrays))(theta)
    v2, g2 = jax.value_and_grad(_loss(prob.compiled, arrays))(theta)
    assert float(v1) == float(v2)
    cols = list(columns)
    np.testing.assert_allclose(np.asarray(g1)[:, cols], np.asarray(g2)[:, cols], rtol=1e-7)
    # Columns that are not estimated are constants to this solver.
    others = [j for j in range(theta.shape[1]) if j not in cols]
    assert np.all(np.asarray(g1)[:, others] == 0)


def test_forward_mode_matches_central_differences(setup):
    _, fast, arrays, theta, columns = setup
    loss = _loss(fast, arrays)
    direction = jnp.zeros_like(theta).at[:, list(columns)].set(jnp.array([[1.0, -0.5],
                                                                           [0.3, 2.0]]))
    _, tangent = jax.jvp(loss, (theta,), (direction,))
    h = 1e-5
    fd = (loss(theta + h * direction) - loss(theta - h * direction)) / (2 * h)
    np.testing.assert_allclose(float(tangent), float(fd), rtol=1e-6)


@pytest.mark.parametrize("ss, restricted", [(0, True), (1, False)])
def test_fit_solver_integrates_only_the_observed_states_unless_the_data_have_ss(
        monkeypatch, ss, restricted):
    """Observing only `cp` of pkpd_idr1 needs its central compartment alone; with a
    steady-state record every compartment's periodic state is solved for, so nothing is left
    out."""
    from cellpkpd.fitting import run

    data = table(f"""
        ID,TIME,AMT,CMT,EVID,SS,II,DV
        1,0,100,1,1,{ss},24,.
        1,2,0,1,0,0,0,1.0
    """)
    prob = cp.problem("pkpd_idr1", cp.read_nonmem(data),
                      solver=cp.Solver(method="rodas4", rtol=1e-6, atol=1e-8))
    seen = {}
    monkeypatch.setattr(run, "sensitivity_solver",
                        lambda *args, **kw: seen.setdefault("active", args[-1]))
    run.solver_for(prob, (0,), ("cp",))
    assert seen["active"] == ((0,) if restricted else None)


@pytest.fixture(scope="module")
def rodas_setup():
    """An indirect-response model under Rodas4 (the custom tangent rule), observed in both
    outputs (all states) and in the concentration alone (the restricted integration)."""
    from cellpkpd.flows import active_states

    model = cp.load_model("pkpd_idr1")
    prob = cp.problem(model, table(DATA), solver=cp.Solver(method="rodas4", rtol=1e-10,
                                                             atol=1e-12))
    ev = prob.events
    names = list(model.param_names)
    columns = tuple(sorted(names.index(n) for n in ("cl", "kout", "ic50")))
    arrays = {k: jnp.asarray(v) for k, v in ev.arrays.items()}
    theta = jnp.asarray(prob.parameters()) * jnp.array([[1.0], [1.2]])
    solvers = {}
    layout = (ev.n_overlap, ev.has_periodic_ss, ev.has_constant_ss)
    for active in (None, active_states(model, ("cp",))):
        for dense in (False, True):
            solvers[active, dense] = sensitivity_solver(model, prob.solver, *layout, columns,
                                                        active, dense)
        solvers[active, "adjoint"] = adjoint_solver(model, prob.solver, *layout, columns,
                                                    active)
    return solvers, arrays, theta, columns


@pytest.mark.parametrize("restricted", [False, True])
def test_split_tangents_and_the_adjoint_agree_with_dense_tangents_and_differences(
        rodas_setup, restricted):
    """Only the estimated entries carry tangents (a SplitVector; symbolic zeros through the
    Rodas4 rule): the gradient must equal the one with a dense tangent on every parameter
    slot, the discrete adjoint's, and central differences of the solve."""
    solvers, arrays, theta, columns = rodas_setup
    active = next(a for a, _ in solvers if (a is not None) == restricted)
    output = 0 if restricted else 1

    def loss(solve):
        return lambda th: jnp.sum(jnp.log(jnp.abs(solve(th, arrays)[0][..., output]) + 1.0) ** 2)

    split, dense = solvers[active, False], solvers[active, True]
    np.testing.assert_array_equal(np.asarray(solvers[active, "adjoint"](theta, arrays)[0]),
                                  np.asarray(split(theta, arrays)[0]))
    g_adjoint = np.asarray(jax.grad(loss(solvers[active, "adjoint"]))(theta))
    g_split = np.asarray(jax.grad(loss(split))(theta))
    g_dense = np.asarray(jax.grad(loss(dense))(theta))
    cols = list(columns)
    np.testing.assert_allclose(g_split[:, cols], g_dense[:, cols], rtol=1e-12, atol=1e-300)
    # The discrete adjoint (reverse mode through the steps, the event scan and the batch) is
    # the same derivative computed the other way round.
    np.testing.assert_allclose(g_adjoint[:, cols], g_split[:, cols], rtol=1e-9)
    others = [j for j in range(theta.shape[1]) if j not in cols]
    assert np.all(g_adjoint[:, others] == 0)
    f = loss(split)
    for s in range(theta.shape[0]):
        for j in cols:
            h = 1e-5 * float(theta[s, j])
            up, down = theta.at[s, j].add(h), theta.at[s, j].add(-h)
            fd = (float(f(up)) - float(f(down))) / (2 * h)
            np.testing.assert_allclose(g_split[s, j], fd, rtol=1e-5)


def test_fit_solver_takes_the_adjoint_only_above_the_measured_crossover(monkeypatch):
    """Forward sensitivities for a handful of estimated columns, the discrete adjoint for
    many (or when asked); an unknown choice is an error naming it."""
    from cellpkpd.errors import ParameterError
    from cellpkpd.fitting import run

    prob = cp.problem("pkpd_idr1", cp.read_nonmem(table(DATA)),
                      solver=cp.Solver(method="rodas4", rtol=1e-6, atol=1e-8))
    monkeypatch.setattr(run, "sensitivity_solver", lambda *a, **kw: "forward")
    monkeypatch.setattr(run, "adjoint_solver", lambda *a, **kw: "adjoint")
    few = tuple(range(3))
    many = tuple(range(run.ADJOINT_ABOVE + 1))
    assert run.solver_for(prob, few) == "forward"
    assert run.solver_for(prob, many) == "adjoint"
    assert run.solver_for(prob, few, gradient="adjoint") == "adjoint"
    assert run.solver_for(prob, many, gradient="forward") == "forward"
    with pytest.raises(ParameterError, match="gradient='backward'"):
        run.solver_for(prob, few, gradient="backward")
