"""Textbook closed-form solutions (Gibaldi & Perrier) against both solver paths.

Multiple doses are superposed single-dose responses; steady state is the superposition of
enough past doses that the rest is below machine precision. Neither uses cellpkpd's code.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cellpkpd as cp
from cellpkpd.flows import affine_step

from conftest import table

SOLVERS = [cp.Solver(method="closed_form"), cp.Solver(method="tsit5", rtol=1e-11, atol=1e-12)]
TIMES = np.array([0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 11, 12, 13, 18, 24, 30, 47, 60])


def one_cmt_bolus(t, dose, cl, v):
    k = cl / v
    return np.where(t >= 0, dose / v * np.exp(-k * np.clip(t, 0, None)), 0.0)


def one_cmt_infusion(t, dose, tinf, cl, v):
    k, rate = cl / v, dose / tinf
    tc = np.clip(t, 0, None)
    during = rate / (k * v) * (1 - np.exp(-k * tc))
    after = rate / (k * v) * (1 - np.exp(-k * tinf)) * np.exp(-k * (tc - tinf))
    return np.where(t < 0, 0.0, np.where(t <= tinf, during, after))


def one_cmt_oral(t, dose, cl, v, ka):
    k = cl / v
    tc = np.clip(t, 0, None)
    return np.where(t >= 0, dose * ka / (v * (ka - k)) * (np.exp(-k * tc) - np.exp(-ka * tc)), 0)


def two_cmt_rates(cl, v1, q, v2):
    k10, k12, k21 = cl / v1, q / v1, q / v2
    s = k10 + k12 + k21
    root = np.sqrt(s * s - 4 * k10 * k21)
    return (s + root) / 2, (s - root) / 2, k21


def two_cmt_bolus(t, dose, cl, v1, q, v2):
    alpha, beta, k21 = two_cmt_rates(cl, v1, q, v2)
    tc = np.clip(t, 0, None)
    a = dose / v1 * (alpha - k21) / (alpha - beta)
    b = dose / v1 * (k21 - beta) / (alpha - beta)
    return np.where(t >= 0, a * np.exp(-alpha * tc) + b * np.exp(-beta * tc), 0.0)


def two_cmt_infusion(t, dose, tinf, cl, v1, q, v2):
    alpha, beta, k21 = two_cmt_rates(cl, v1, q, v2)
    rate = dose / tinf

    def running(u):  # response to a constant infusion started at 0 and never stopped
        u = np.clip(u, 0, None)
        return rate / v1 * ((alpha - k21) / (alpha - beta) * (1 - np.exp(-alpha * u)) / alpha
                            + (k21 - beta) / (alpha - beta) * (1 - np.exp(-beta * u)) / beta)

    return np.where(t < 0, 0.0, running(t) - running(t - tinf))


def two_cmt_oral(t, dose, cl, v1, q, v2, ka):
    alpha, beta, k21 = two_cmt_rates(cl, v1, q, v2)
    tc = np.clip(t, 0, None)
    c = ka * dose / v1 * (
        (k21 - alpha) / ((ka - alpha) * (beta - alpha)) * np.exp(-alpha * tc)
        + (k21 - beta) / ((ka - beta) * (alpha - beta)) * np.exp(-beta * tc)
        + (k21 - ka) / ((alpha - ka) * (beta - ka)) * np.exp(-ka * tc))
    return np.where(t >= 0, c, 0.0)


P1 = dict(cl=2.0, v=25.0)
P1O = dict(cl=2.0, v=25.0, ka=0.9)
P2 = dict(cl=3.0, v1=15.0, q=4.0, v2=60.0)
P2O = dict(P2, ka=1.3)

# (model, dose record, parameters, single-dose response, interval for ADDL/SS)
CASES = {
    "1cmt-bolus": ("pk_1cmt_iv", "100,1,0", P1, lambda t: one_cmt_bolus(t, 100, **P1)),
    "1cmt-infusion": ("pk_1cmt_iv", "100,1,40", P1,
                      lambda t: one_cmt_infusion(t, 100, 2.5, **P1)),
    "1cmt-oral": ("pk_1cmt_oral", "100,1,0", P1O, lambda t: one_cmt_oral(t, 100, **P1O)),
    "2cmt-bolus": ("pk_2cmt_iv", "100,1,0", P2, lambda t: two_cmt_bolus(t, 100, **P2)),
    "2cmt-infusion": ("pk_2cmt_iv", "100,1,20", P2,
                      lambda t: two_cmt_infusion(t, 100, 5.0, **P2)),
    "2cmt-oral": ("pk_2cmt_oral", "100,1,0", P2O, lambda t: two_cmt_oral(t, 100, **P2O)),
}


REGIMENS = {  # subject -> (ADDL, II, SS)
    1: (0, 0, 0),    # single dose
    2: (3, 12, 0),   # four doses, every 12 h
    3: (0, 12, 1),   # steady state, 12-h interval
}


def expected(response, regimen, times):
    addl, ii, ss = REGIMENS[regimen]
    if ss:  # the SS dose plus enough past doses for the rest to vanish
        return sum(response(times + ii * k) for k in range(3000))
    return sum(response(times - ii * k) for k in range(addl + 1))


_CACHE = {}


def simulate_case(case, solver):
    """One dataset per case, every regimen a subject: one compilation per model and solver."""
    key = (case, solver)
    if key not in _CACHE:
        name, dose, params, _ = CASES[case]
        amt, cmt, rate = dose.split(",")
        rows = [f"{sid},0,{amt},{cmt},{rate},{a},{i},{ss},1"
                for sid, (a, i, ss) in REGIMENS.items()]
        data = table("ID,TIME,AMT,CMT,RATE,ADDL,II,SS,EVID\n" + "\n".join(rows))
        _CACHE[key] = cp.simulate(name, data, params, times=TIMES, solver=solver)
    return _CACHE[key]


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.method)
@pytest.mark.parametrize("regimen", list(REGIMENS), ids=["single", "addl", "ss"])
@pytest.mark.parametrize("case", list(CASES))
def test_against_closed_form(case, regimen, solver):
    sim = simulate_case(case, solver)
    response = CASES[case][3]
    np.testing.assert_allclose(sim["cp"].sel(id=regimen).values,
                               expected(response, regimen, TIMES), rtol=1e-6, atol=1e-12)


def dose_table(dose, addl=0, ii=0, ss=0):
    amt, cmt, rate = dose.split(",")
    return table(f"""
        ID,TIME,AMT,CMT,RATE,ADDL,II,SS,EVID
        1,0,{amt},{cmt},{rate},{addl},{ii},{ss},1
    """)
@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.method)
def test_steady_state_infusion_longer_than_interval(solver):
    # 30-h infusions every 8 h: four overlap at steady state.
    tinf, tau = 30.0, 8.0
    times = np.array([0.0, 1.0, 2.5, 5.0, 7.9, 9.0, 20.0, 40.0])
    sim = cp.simulate("pk_2cmt_iv", dose_table(f"120,1,{120 / tinf}", ss=1, ii=tau), P2,
                      times=times, solver=solver)
    # Past doses only (the SS record's own dose at t=0 is in the data as a real dose).
    expected = sum(two_cmt_infusion(times + tau * k, 120, tinf, **P2) for k in range(0, 3000))
    np.testing.assert_allclose(sim["cp"].values[0], expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS, ids=lambda s: s.method)
def test_steady_state_2_adds_to_current_state(solver):
    # A single bolus at 0, then SS=2 at 24 h: superposition of both.
    data = table("""
        ID,TIME,AMT,CMT,II,SS,EVID
        1,0,50,1,0,0,1
        1,24,100,1,12,2,1
    """)
    times = np.array([1.0, 20.0, 25.0, 30.0])
    sim = cp.simulate("pk_1cmt_iv", data, P1, times=times, solver=solver)
    expected = one_cmt_bolus(times, 50, **P1) + np.where(
        times >= 24, sum(one_cmt_bolus(times - 24 + 12 * k, 100, **P1) for k in range(2000)), 0)
    np.testing.assert_allclose(sim["cp"].values[0], expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("rate", [1e2, 1e8, 1e12])
def test_affine_step_at_cell_sized_infusion_rates(rate):
    """One-compartment infusion y' = -k y + R from 0: y = R/k (1 - e^{-k t}), with its
    derivatives in R and k. A rate of 1e8 cells/day used to make expm return NaN."""
    k, t = 0.7, 0.3

    def y(k, r):
        return affine_step(jnp.array([[-k]]), jnp.array([r]), jnp.zeros(1), t)[0]

    decay = np.exp(-k * t)
    np.testing.assert_allclose(y(k, rate), rate / k * (1 - decay), rtol=1e-13)
    dk, dr = jax.grad(y, argnums=(0, 1))(k, rate)
    np.testing.assert_allclose(dr, (1 - decay) / k, rtol=1e-12)
    np.testing.assert_allclose(dk, -rate / k**2 * (1 - decay) + rate / k * t * decay,
                               rtol=1e-11)
