"""The classic PK/PD blocks of MODELS.md §5 against plain-scipy right-hand sides written here
from the textbook equations, and their untreated baselines."""

import numpy as np
import pandas as pd
import pytest
from reference_models import simulate_infusions

import cellpkpd as cp

TIGHT = cp.Solver(rtol=1e-10, atol=1e-12, max_steps=100_000)
TIMES = np.array([0.25, 0.5, 1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 36.0, 48.0, 96.0])


def one_cmt(p, y):
    return -p["cl"] / p["v"] * y[0]


def hill(x, emax, ec50, n=1.0):
    return emax * x**n / (ec50**n + x**n)


# name -> (doses (time, state index, amount, duration), reference rhs(p) -> f(t, y),
#          initial state(p), outputs(p, y) -> dict)
def idr(kind):
    def rhs(p):
        def f(t, y):
            c = y[0] / p["v"]
            kin = p["r0"] * p["kout"]
            inh = 1 - hill(c, p.get("imax", 0), p.get("ic50", 1))
            stim = 1 + hill(c, p.get("emax", 0), p.get("ec50", 1))
            prod = {1: kin * inh, 2: kin, 3: kin * stim, 4: kin}[kind]
            loss = {1: p["kout"], 2: p["kout"] * inh, 3: p["kout"], 4: p["kout"] * stim}[kind]
            return np.array([one_cmt(p, y), prod - loss * y[1]])
        return f
    return ([(0.0, 0, 100.0, 0.0), (24.0, 0, 100.0, 2.0)], rhs,
            lambda p: [0.0, p["r0"]], lambda p, y: {"cp": y[0] / p["v"], "response": y[1]})


def mm_rhs(p):
    return lambda t, y: np.array([-p["vmax"] * (y[0] / p["v"]) / (p["km"] + y[0] / p["v"])])


def tmdd_rhs(p):
    def f(t, y):
        ctot = y[0] / p["v"]
        b = ctot - y[1] - p["kss"]
        free = 0.5 * (b + np.sqrt(b * b + 4 * p["kss"] * ctot))
        bound = ctot - free
        return np.array([-p["cl"] * free - p["kint"] * bound * p["v"],
                         p["kdeg"] * p["r0"] - p["kdeg"] * y[1] - (p["kint"] - p["kdeg"]) * bound])
    return f


def tmdd_out(p, y):
    ctot = y[0] / p["v"]
    b = ctot - y[1] - p["kss"]
    free = 0.5 * (b + np.sqrt(b * b + 4 * p["kss"] * ctot))
    return {"cp": free, "ctot": ctot, "rtot": y[1], "complex": ctot - free}


def friberg_rhs(p):
    def f(t, y):
        ktr = 4 / p["mtt"]
        e = p["slope"] * y[0] / p["v"]
        d = np.empty(6)
        d[0] = one_cmt(p, y)
        d[1] = ktr * y[1] * (1 - e) * (p["circ0"] / y[5]) ** p["gamma"] - ktr * y[1]
        d[2:] = ktr * (y[1:5] - y[2:6])
        return d
    return f


def transit_rhs(p):
    def f(t, y):
        ktr = 4 / p["mtt"]
        return np.array([-ktr * y[0], ktr * (y[0] - y[1]), ktr * (y[1] - y[2]),
                         ktr * y[2] - p["ka"] * y[3], p["ka"] * y[3] - p["cl"] / p["v"] * y[4]])
    return f


CASES = {
    "pk_1cmt_mm": ([(0.0, 0, 500.0, 0.0), (12.0, 0, 200.0, 4.0)], mm_rhs, lambda p: [0.0],
                   lambda p, y: {"cp": y[0] / p["v"]}),
    "pk_tmdd_qss": ([(0.0, 0, 100.0, 0.0), (48.0, 0, 20.0, 1.0)], tmdd_rhs,
                    lambda p: [0.0, p["r0"]], tmdd_out),
    "pkpd_idr1": idr(1), "pkpd_idr2": idr(2), "pkpd_idr3": idr(3), "pkpd_idr4": idr(4),
    "pkpd_emax": ([(0.0, 0, 100.0, 0.0)], lambda p: lambda t, y: np.array([one_cmt(p, y)]),
                  lambda p: [0.0], lambda p, y: {
                      "cp": y[0] / p["v"],
                      "effect": p["e0"] + hill(y[0] / p["v"], p["emax"], p["ec50"])}),
    "pkpd_sigmoid_emax": ([(0.0, 0, 100.0, 0.0)],
                          lambda p: lambda t, y: np.array([one_cmt(p, y)]), lambda p: [0.0],
                          lambda p, y: {"cp": y[0] / p["v"], "effect": p["e0"] + hill(
                              y[0] / p["v"], p["emax"], p["ec50"], p["gamma"])}),
    "pkpd_friberg": ([(0.0, 0, 100.0, 0.0), (24.0, 0, 100.0, 1.0)], friberg_rhs,
                     lambda p: [0.0] + [p["circ0"]] * 5,
                     lambda p, y: {"cp": y[0] / p["v"], "circ": y[5]}),
    "pk_transit": ([(0.0, 0, 100.0, 0.0)], transit_rhs, lambda p: [0.0] * 5,
                   lambda p, y: {"cp": y[4] / p["v"]}),
}


def dataset(model, doses, times):
    rows = [dict(ID=1, TIME=0.0, EVID=2, AMT=0.0, CMT=1, RATE=0.0)]
    rows += [dict(ID=1, TIME=t, EVID=1, AMT=a, CMT=cmt + 1, RATE=a / d if d else 0.0)
             for t, cmt, a, d in doses]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name", sorted(CASES))
def test_classic_model_matches_scipy(name):
    model = cp.load_model(name)
    doses, rhs, y0, outputs = CASES[name]
    p = model.default_params()
    sim = cp.simulate(model, dataset(model, doses, TIMES), times=TIMES, solver=TIGHT)
    ys = simulate_infusions(rhs(p), y0(p), doses, TIMES, t0=0.0, rtol=1e-11, atol=1e-13)
    expected = [outputs(p, y) for y in ys]
    assert set(expected[0]) == set(model.output_names)
    for out in model.output_names:
        ref = np.array([e[out] for e in expected])
        np.testing.assert_allclose(sim[out].values[0], ref, rtol=1e-5,
                                   atol=1e-9 * np.abs(ref).max(), err_msg=out)


@pytest.mark.parametrize("name", sorted(CASES))
def test_classic_model_without_doses_stays_at_baseline(name):
    model = cp.load_model(name)
    _, _, y0, outputs = CASES[name]
    p = model.default_params()
    times = np.linspace(0.0, 365.0 * 24, 7)
    sim = cp.simulate(model, dataset(model, [], times), times=times, solver=TIGHT)
    baseline = outputs(p, np.asarray(y0(p), float))
    for out in model.output_names:
        np.testing.assert_allclose(sim[out].values[0], baseline[out], rtol=1e-8,
                                   atol=1e-300, err_msg=out)


def test_closed_form_and_ode_agree_for_the_transit_model():
    model = cp.load_model("pk_transit")
    doses, *_ = CASES["pk_transit"]
    data = dataset(model, doses, TIMES)
    exact = cp.simulate(model, data, times=TIMES, solver=cp.Solver(method="closed_form"))
    ode = cp.simulate(model, data, times=TIMES,
                      solver=cp.Solver(method="tsit5", rtol=1e-10, atol=1e-12))
    np.testing.assert_allclose(exact["cp"].values, ode["cp"].values, rtol=1e-7)
