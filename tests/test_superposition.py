"""The superposition fast path for linear models, against textbook closed forms and the event
engine (values and gradients), and its own matrix exponential against scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from test_closed_forms import CASES, REGIMENS, TIMES, expected

import cellpkpd as cp
from cellpkpd import superposition

from conftest import table


def test_expm_small_matches_scipy():
    rng = np.random.default_rng(1)
    scales = np.logspace(-4, 4, 40)
    ms = rng.normal(size=(40, 4, 4)) * scales[:, None, None]
    ms -= 3 * np.eye(4) * scales[:, None, None]  # decaying, as compartment matrices are
    got = np.asarray(superposition.expm_small(jnp.asarray(ms)))
    for m, g in zip(ms, got, strict=True):
        ref = scipy.linalg.expm(m)
        np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-13 * np.abs(ref).max())


def _solve(model, data, params):
    prob = cp.problem(model, data, times=TIMES, solver=cp.Solver(method="closed_form"))
    assert superposition.applicable(prob.model, prob.events) is None
    arrays = {k: jnp.asarray(v) for k, v in prob.events.arrays.items()}
    theta = jnp.asarray(prob.parameters(params))
    fast = superposition.batch_solver(prob.model)(theta, arrays)
    slow = prob.compiled(theta, arrays)
    return prob, fast, slow


@pytest.mark.parametrize("case", list(CASES))
def test_matches_closed_forms_and_engine(case):
    name, dose, params, response = CASES[case]
    amt, cmt, rate = dose.split(",")
    rows = [f"{sid},0,{amt},{cmt},{rate},{a},{i},0,1"
            for sid, (a, i, ss) in REGIMENS.items() if not ss]
    data = table("ID,TIME,AMT,CMT,RATE,ADDL,II,SS,EVID\n" + "\n".join(rows))
    prob, (out, _, status), (ref_out, _, _) = _solve(name, data, params)
    assert not np.any(np.asarray(status))
    values = prob.grid(out)[..., prob.model.output_names.index("cp")]
    for k, regimen in enumerate(r for r, v in REGIMENS.items() if not v[2]):
        np.testing.assert_allclose(values[k], expected(response, regimen, TIMES),
                                   rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref_out), rtol=1e-9, atol=1e-13)


def test_lag_bioavailability_and_ties_match_engine():
    # A dose at the time of an observation: the observation row after the dose sees it, the
    # dose row itself does not (NONMEM's record order). Lag and F move and scale doses.
    data = table("""
        ID,TIME,AMT,CMT,RATE,EVID,DV,LAGT,FRAC
        1,0,100,1,0,1,.,0.5,0.7
        1,0,.,2,.,0,1,0.5,0.7
        1,0.5,.,2,.,0,1,0.5,0.7
        1,6,50,2,10,1,.,0.5,0.7
        1,6,.,2,.,0,1,0.5,0.7
        1,8,.,2,.,0,1,0.5,0.7
        1,24,.,2,.,0,1,0.5,0.7
    """)
    base = cp.load_model("pk_2cmt_oral")
    from dataclasses import replace

    model = replace(base, bioavailability={"depot": lambda p, c: c.FRAC},
                    lag_time={"depot": lambda p, c: c.LAGT},
                    covariates=(*base.covariates, cp.Covariate("LAGT", 0.0, "h", "lag"),
                                cp.Covariate("FRAC", 1.0, "1", "F")))
    prob = cp.problem(model, data, solver=cp.Solver(method="closed_form"))
    assert superposition.applicable(model, prob.events) is None
    arrays = {k: jnp.asarray(v) for k, v in prob.events.arrays.items()}
    params = dict(cl=3.0, v1=15.0, q=4.0, v2=60.0, ka=1.3)
    theta = jnp.asarray(prob.parameters(params))
    fast = superposition.batch_solver(model)
    out, _, _ = fast(theta, arrays)
    ref, _, _ = prob.compiled(theta, arrays)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-10, atol=1e-13)

    loss = lambda solver: lambda th: jnp.sum(solver(th, arrays)[0] ** 2)  # noqa: E731
    g_fast = jax.grad(loss(fast))(theta)
    g_ref = jax.grad(loss(prob.compiled))(theta)
    np.testing.assert_allclose(np.asarray(g_fast), np.asarray(g_ref), rtol=1e-7, atol=1e-12)


def test_not_applicable_falls_back_with_a_reason():
    text = """
        ID,TIME,AMT,CMT,II,SS,EVID
        1,0,100,1,12,1,1
        1,1,.,1,.,0,0
    """
    prob = cp.problem("pk_1cmt_iv", table(text), solver=cp.Solver(method="closed_form"))
    assert "steady-state" in superposition.applicable(prob.model, prob.events)
    prob = cp.problem("pk_1cmt_mm", table(text))
    assert "not declared linear" in superposition.applicable(prob.model, prob.events)


def _exact_triangular_2x2(m):
    """e^M for lower-triangular 2x2 M from the divided difference of exp at its diagonal,
    written independently of the code under test (expm1 form, exact at equal diagonals)."""
    a, c, d = m[0, 0], m[1, 0], m[1, 1]
    hi, gap = max(a, d), abs(a - d)
    dd = np.exp(hi) * (-np.expm1(-gap) / gap if gap else 1.0)
    return np.array([[np.exp(a), 0.0], [c * dd, np.exp(d)]])


def test_expm_2x2_closed_form():
    # Triangular (one compartment with a depot), near and at the flip-flop line ka = ke where
    # scipy's Pade loses ~1e-9 relative accuracy, and general 2x2 matrices with real and
    # complex eigenvalues against scipy.
    rng = np.random.default_rng(3)
    tri = []
    for scale in np.logspace(-3, 2.5, 12):
        for gap in (0.0, 1e-12, 1e-7, 1e-3, 0.5, 30.0):
            ka = scale * rng.uniform(0.5, 2.0)
            tri.append([[-ka, 0.0], [ka, -ka * (1 + gap)]])
    tri = np.array(tri)
    got = np.asarray(superposition.expm_small(jnp.asarray(tri)))
    for m, g in zip(tri, got, strict=True):
        ref = _exact_triangular_2x2(m)
        np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-15 * np.abs(ref).max())
    general = rng.normal(size=(60, 2, 2)) * np.logspace(-3, 1.5, 60)[:, None, None]
    got = np.asarray(superposition.expm_small(jnp.asarray(general)))
    for m, g in zip(general, got, strict=True):
        ref = scipy.linalg.expm(m)
        np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-13 * np.abs(ref).max())


def test_expm_2x2_gradient_is_finite_and_matches_taylor_path_at_repeated_eigenvalues():
    # At ka = ke exactly the eigen-decomposition is singular; the closed form must still give
    # the exponential's true derivative (compared with the Taylor path's).
    m = jnp.array([[[-1.3, 0.0], [1.3, -1.3]], [[-0.7, 0.2], [0.4, -0.7 + 1e-6]]]) * 3.0
    loss = lambda f: lambda x: jnp.sum(f(x) * jnp.arange(1.0, 5.0).reshape(2, 2))  # noqa: E731
    g_closed = jax.grad(loss(superposition.expm_small))(m)
    g_taylor = jax.grad(loss(superposition._expm_taylor))(m)
    assert np.all(np.isfinite(np.asarray(g_closed)))
    np.testing.assert_allclose(np.asarray(g_closed), np.asarray(g_taylor), rtol=1e-9, atol=1e-12)


def test_zero_baseline_is_detected_and_infusions_use_the_augmented_path():
    oral = cp.load_model("pk_1cmt_oral")
    data = table("ID,TIME,AMT,CMT,RATE,EVID\n1,0,100,1,0,1\n1,2,.,2,.,0\n1,5,50,2,25,1\n"
                 "1,8,.,2,.,0")
    prob = cp.problem(oral, data, solver=cp.Solver(method="closed_form"))
    needs = superposition.needs(oral, prob.events)
    assert needs == superposition.Needs(baseline=False, infusions=True)
    arrays = {k: jnp.asarray(v) for k, v in prob.events.arrays.items()}
    theta = jnp.asarray(prob.parameters({"ka": 1.1, "cl": 2.0, "v": 10.0}))
    lean, _, _ = superposition.batch_solver(oral, needs)(theta, arrays)
    full, _, _ = superposition.batch_solver(oral)(theta, arrays)
    ref, _, _ = prob.compiled(theta, arrays)
    np.testing.assert_allclose(np.asarray(lean), np.asarray(full), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(lean), np.asarray(ref), rtol=1e-9, atol=1e-13)
