"""Rodas4 and the sparse Jacobian machinery, against scipy and dense linear algebra."""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

import cellpkpd as cp
from cellpkpd.flows import jacobian_plan
from cellpkpd.rosenbrock import Rodas4, rodas4_step
from cellpkpd.sparsity import SparsePlan, jacobian_pattern


def forced(t, y, args):
    return jnp.array([-2 * y[0] + y[1] ** 2 + jnp.sin(t),
                      y[0] - 0.5 * y[1] - 0.1 * y[1] ** 3 + jnp.cos(3 * t)])


def robertson(t, y, args):
    return jnp.array([-0.04 * y[0] + 1e4 * y[1] * y[2],
                      0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
                      3e7 * y[1] ** 2])


def test_rodas4_converges_at_fourth_order_on_a_forced_nonlinear_system():
    y0 = jnp.array([1.0, 0.5])
    ref = solve_ivp(lambda t, y: np.asarray(forced(t, y, None)), (0, 2), np.asarray(y0),
                    method="DOP853", rtol=1e-13, atol=1e-14).y[:, -1]
    errors = []
    for n in (20, 40, 80):
        sol = diffrax.diffeqsolve(diffrax.ODETerm(forced), Rodas4(), 0.0, 2.0, 2.0 / n, y0,
                                  stepsize_controller=diffrax.ConstantStepSize())
        errors.append(np.max(np.abs(np.asarray(sol.ys[-1]) - ref)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 3.8) & (orders < 4.6)), orders


def test_rodas4_solves_the_stiff_robertson_problem_like_radau():
    y0 = jnp.array([1.0, 0.0, 0.0])
    sol = diffrax.diffeqsolve(diffrax.ODETerm(robertson), Rodas4(), 0.0, 1e3, 1e-6, y0,
                              stepsize_controller=diffrax.PIDController(rtol=1e-7, atol=1e-12),
                              max_steps=10_000)
    ref = solve_ivp(lambda t, y: np.asarray(robertson(t, y, None)), (0, 1e3), np.asarray(y0),
                    method="Radau", rtol=1e-12, atol=1e-16).y[:, -1]
    np.testing.assert_allclose(np.asarray(sol.ys[-1]), ref, rtol=1e-5)
    assert int(sol.stats["num_steps"]) < 500  # stiff: an explicit method needs ~10^6


def random_sparse_matrix(rng, n, density):
    pattern = rng.random((n, n)) < density
    a = np.where(pattern, rng.normal(size=(n, n)), 0.0)
    return pattern, a


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_factor_and_solve_match_dense_algebra(seed):
    rng = np.random.default_rng(seed)
    n = 12
    pattern, jac = random_sparse_matrix(rng, n, 0.2)
    plan = SparsePlan.from_pattern(pattern)
    compressed = jnp.asarray(plan.seeds @ jac.T)  # what the forward-mode probes return
    diagonal = 7.0
    lu = plan.factor(jnp.asarray(diagonal), plan.jacobian_values(compressed))
    b = rng.normal(size=n)
    x = plan.solve(lu, jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(x), np.linalg.solve(diagonal * np.eye(n) - jac, b),
                               rtol=1e-10, atol=1e-12)
    # Colours are valid: columns of one colour share no row.
    colours = np.asarray(plan.colours)
    for c in range(plan.n_colours):
        assert pattern[:, colours == c].sum(axis=1).max(initial=0) <= 1


BUNDLED_STIFF = ["msc_ifna", "nkg2d_carnk_mm", "singh2021_idecel", "pkpd_friberg"]


@pytest.mark.parametrize("name", BUNDLED_STIFF)
def test_structural_pattern_covers_the_jacobian_at_random_points(name):
    model = cp.load_model(name)
    n = model.n_states
    p0 = np.array(list(model.default_params().values()))
    c0 = np.array(list(model.default_covariates().values()) + [1.0] * len(model.switches))
    pattern = jacobian_pattern(lambda y, p, c: model.rhs(0.0, y, p, c), n, jnp.asarray(p0),
                               jnp.asarray(c0))
    rng = np.random.default_rng(0)
    jac = jax.jit(jax.jacfwd(lambda y, p, c: model.rhs(0.0, y, p, c)))
    for _ in range(8):
        y = np.exp(rng.uniform(-3, 3, n))
        p = p0 * np.exp(rng.normal(0, 0.5, p0.size))
        c = c0.copy()
        if model.switches:
            c[-len(model.switches):] = rng.integers(0, 2, len(model.switches))
        values = np.asarray(jac(jnp.asarray(y), jnp.asarray(p), jnp.asarray(c)))
        assert not np.any(values[~pattern]), f"{name}: a Jacobian entry outside the pattern"


def test_sparse_rodas4_step_equals_the_dense_step_on_msc_ifna():
    model = cp.load_model("msc_ifna")
    plan = jacobian_plan(model)
    assert plan is not None and plan.n_colours < model.n_states
    p = jnp.asarray(list(model.default_params().values()))
    c = jnp.asarray(list(model.default_covariates().values()) + [1.0] * len(model.switches))
    y = model.initial_state(p, c[: len(model.covariates)]) * 1.5 + 1.0

    def vf(t, y, args):
        return model.rhs(t, y, *args)

    for h in (1e-3, 0.3):
        dense = rodas4_step(vf, jnp.asarray(0.0), y, h, (p, c))
        sparse = rodas4_step(vf, jnp.asarray(0.0), y, h, (p, c), plan)
        np.testing.assert_allclose(np.asarray(sparse[0]), np.asarray(dense[0]), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(sparse[1]), np.asarray(dense[1]), rtol=1e-7,
                                   atol=1e-12 * float(jnp.max(jnp.abs(dense[1]))))


def test_carried_step_sizes_do_not_change_the_solution():
    """Extra observation records split the integration into more segments; with the step size
    carried across them the answer at the common times is the same to the tolerance."""
    model = cp.load_model("pk_1cmt_mm")
    doses = pd.DataFrame({"ID": [1, 1], "TIME": [0.0, 24.0], "AMT": [100.0, 50.0],
                          "CMT": [1, 1], "EVID": [1, 1], "RATE": [0.0, 25.0]})
    solver = cp.Solver(method="rodas4", rtol=1e-9, atol=1e-12)
    few = np.array([6.0, 30.0, 48.0])
    many = np.sort(np.concatenate([few, np.linspace(0.5, 47.5, 40)]))
    a = cp.simulate(model, doses, times=few, solver=solver)
    b = cp.simulate(model, doses, times=many, solver=solver).sel(time=few)
    name = model.output_names[0]
    np.testing.assert_allclose(b[name].values, a[name].values, rtol=1e-7)


def _naive_rodas4_step(f, t0, y0, h):
    """Rodas4 written out plainly (dense W, nothing frozen), for JAX to differentiate through
    its Jacobian and LU: the reference for the custom tangent rule."""
    from cellpkpd.rosenbrock import CC, GAMMA, A, C, D

    n = y0.shape[0]
    jac = jax.jacfwd(lambda y: f(t0, y))(y0)
    ft = jax.jvp(lambda t: f(t, y0), (t0,), (jnp.ones_like(t0),))[1]
    w = jnp.eye(n) / (h * GAMMA) - jac
    ks = []
    for i in range(6):
        if i == 0:
            u = y0
        elif i < 5:
            u = y0 + sum(a * k for a, k in zip(A[i], ks, strict=True))
        else:
            u = u + ks[4]
        rhs = f(t0 + C[i] * h, u) + sum((c / h) * k for c, k in zip(CC[i], ks, strict=True))
        ks.append(jnp.linalg.solve(w, rhs + h * D[i] * ft))
    return u + ks[5], ks[5]


def _robertson(t, y, p):
    """Robertson's stiff kinetics with a forcing in t, so every derivative path is exercised."""
    k1, k2, k3 = p
    return jnp.array([-k1 * y[0] + k3 * y[1] * y[2] + 0.1 * jnp.sin(t),
                      k1 * y[0] - k3 * y[1] * y[2] - k2 * y[1] ** 2,
                      k2 * y[1] ** 2])


@pytest.mark.parametrize("sparse", [False, True])
def test_rodas4_step_derivatives_equal_those_of_the_plain_scheme(sparse):
    """The custom rule (factorisation frozen, dW k by a nested jvp) gives the exact derivative
    of the discrete step, in forward and reverse mode, with respect to the state, the
    parameters and the step size."""
    p0 = jnp.array([0.04, 3e7, 1e4])
    y0 = jnp.array([0.9, 2e-5, 0.1])
    plan = None
    if sparse:
        plan = SparsePlan.from_pattern(jacobian_pattern(lambda y, p: _robertson(0.0, y, p), 3,
                                                        p0))
    t0 = jnp.asarray(0.3)

    def ours(y, p, h):
        return rodas4_step(lambda t, yy, a: _robertson(t, yy, a), t0, y, h, p, plan)[0]

    def reference(y, p, h):
        return _naive_rodas4_step(lambda t, yy: _robertson(t, yy, p), t0, y, h)[0]

    h = jnp.asarray(0.05)
    for argnum in (0, 1, 2):
        fwd = jax.jacfwd(ours, argnums=argnum)(y0, p0, h)
        ref = jax.jacfwd(reference, argnums=argnum)(y0, p0, h)
        scale = float(jnp.max(jnp.abs(ref)))
        np.testing.assert_allclose(np.asarray(fwd), np.asarray(ref), rtol=1e-8,
                                   atol=1e-10 * scale)
    rev = jax.jacrev(ours, argnums=1)(y0, p0, h)
    ref = jax.jacfwd(reference, argnums=1)(y0, p0, h)
    np.testing.assert_allclose(np.asarray(rev), np.asarray(ref), rtol=1e-8,
                               atol=1e-10 * float(jnp.max(jnp.abs(ref))))
    # Not trivially equal: the step moves the state, and the parameters matter.
    assert float(jnp.max(jnp.abs(ref))) > 0


@pytest.mark.parametrize("sparse", [False, True])
def test_rodas4_discrete_adjoint_equals_the_derivative_of_the_plain_scheme(sparse):
    """The reverse rule (one transposed solve with the step's own factors and a vjp of the
    directional derivative J k per stage) is the exact transpose of the discrete step: every
    row of the reverse-mode Jacobian, with respect to the state, the parameters, the step size
    and the start time, equals forward mode through the plainly written scheme."""
    p0 = jnp.array([0.04, 3e7, 1e4])
    y0 = jnp.array([0.9, 2e-5, 0.1])
    plan = None
    if sparse:
        plan = SparsePlan.from_pattern(jacobian_pattern(lambda y, p: _robertson(0.0, y, p), 3,
                                                        p0))

    def ours(t0, y, p, h):
        return rodas4_step(lambda t, yy, a: _robertson(t, yy, a), t0, y, h, p, plan,
                           derivative="reverse")[0]

    def reference(t0, y, p, h):
        return _naive_rodas4_step(lambda t, yy: _robertson(t, yy, p), t0, y, h)[0]

    args = (jnp.asarray(0.3), y0, p0, jnp.asarray(0.05))
    for argnum in range(4):
        rev = jax.jacrev(ours, argnums=argnum)(*args)
        ref = jax.jacfwd(reference, argnums=argnum)(*args)
        scale = float(jnp.max(jnp.abs(ref)))
        assert scale > 0
        np.testing.assert_allclose(np.asarray(rev), np.asarray(ref), rtol=1e-8,
                                   atol=1e-10 * scale)


def test_a_zero_step_leaves_the_state_and_has_a_finite_derivative():
    """A vmapped loop steps a finished subject by h = 0 (masked). The step must return y0 and
    a finite reverse-mode derivative, or 0 * inf = NaN reaches the batch's gradient."""
    p0 = jnp.array([0.04, 3e7, 1e4])
    y0 = jnp.array([0.9, 2e-5, 0.1])
    f = lambda t, yy, a: _robertson(t, yy, a)  # noqa: E731
    for derivative in ("reverse", "autodiff"):
        y1, err = rodas4_step(f, jnp.asarray(0.3), y0, jnp.asarray(0.0), p0,
                              derivative=derivative)
        np.testing.assert_array_equal(np.asarray(y1), np.asarray(y0))
        assert float(jnp.max(jnp.abs(err))) == 0.0
        g = jax.grad(lambda p, d=derivative: rodas4_step(
            f, jnp.asarray(0.3), y0, jnp.asarray(0.0), p, derivative=d)[0].sum())(p0)
        assert np.all(np.isfinite(np.asarray(g)))


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_transposed_solve_matches_dense_algebra(seed):
    rng = np.random.default_rng(seed)
    n = 12
    pattern, jac = random_sparse_matrix(rng, n, 0.2)
    plan = SparsePlan.from_pattern(pattern)
    compressed = jnp.asarray(plan.seeds @ jac.T)
    lu = plan.factor(jnp.asarray(7.0), plan.jacobian_values(compressed))
    b = rng.normal(size=n)
    x = plan.solve_transposed(lu, jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(x), np.linalg.solve((7.0 * np.eye(n) - jac).T, b),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", BUNDLED_STIFF)
def test_discrete_adjoint_of_a_step_equals_forward_mode_on_each_bundled_stiff_model(name):
    """On each bundled stiff model, with its sparse plan: the vjp of one step (reverse rule)
    against a random cotangent equals the contraction of forward mode's Jacobian (tangent
    rule), with respect to the parameters and the state."""
    model = cp.load_model(name)
    plan = jacobian_plan(model)
    p = jnp.asarray(list(model.default_params().values()))
    c = jnp.asarray(list(model.default_covariates().values()) + [1.0] * len(model.switches))
    y = model.initial_state(p, c[: len(model.covariates)]) * 1.5 + 1.0

    def vf(t, yy, args):
        return model.rhs(t, yy, *args)

    def step(derivative):
        return lambda yy, pp: rodas4_step(vf, jnp.asarray(0.0), yy, jnp.asarray(0.1), (pp, c),
                                          plan, derivative=derivative)[0]

    cotangent = jnp.asarray(np.random.default_rng(0).normal(size=model.n_states))
    rev = jax.vjp(step("reverse"), y, p)[1](cotangent)
    fwd = jax.jacfwd(step("forward"), argnums=(0, 1))(y, p)
    for r, jac in zip(rev, fwd, strict=True):
        expected = cotangent @ jac
        np.testing.assert_allclose(np.asarray(r), np.asarray(expected), rtol=1e-8,
                                   atol=1e-10 * float(jnp.max(jnp.abs(expected))))
