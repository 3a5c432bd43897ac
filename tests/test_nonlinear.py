"""Michaelis-Menten elimination against scipy's LSODA at tight tolerance."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import cellpkpd as cp

from conftest import table
from models import MICHAELIS_MENTEN

P = dict(vmax=10.0, km=2.0, v=20.0)
TIMES = np.array([0.5, 1, 2, 5, 11.9, 12.5, 13, 14, 16, 24, 30, 36, 40, 47])


def lsoda(doses, times, infusion=None):
    """Reference: integrate between dose times with LSODA; ``infusion`` = (start, end, rate)."""
    vmax, km, v = P["vmax"], P["km"], P["v"]

    def rhs(t, y):
        rate = infusion[2] if infusion and infusion[0] <= t < infusion[1] else 0.0
        return [-vmax * (y[0] / v) / (km + y[0] / v) + rate]

    breaks = sorted({0.0, *doses, *(infusion[:2] if infusion else ()), float(times.max())})
    y, out = np.array([0.0]), {}
    for a, b in zip(breaks[:-1], breaks[1:], strict=True):
        y = y + sum(amt for t, amt in doses.items() if t == a)
        sol = solve_ivp(rhs, (a, b), y, method="LSODA", rtol=1e-12, atol=1e-12,
                        dense_output=True, first_step=1e-6)
        inside = times[(times >= a) & (times <= b)]
        out.update(zip(inside, sol.sol(inside)[0], strict=True) if inside.size else ())
        y = sol.y[:, -1]
    return np.array([out[t] for t in times]) / v


@pytest.mark.parametrize("method", ["tsit5", "kvaerno5"])
def test_mm_doses_and_infusion_match_lsoda(method):
    data = table("""
        ID,TIME,AMT,CMT,RATE,ADDL,II,EVID
        1,0,200,1,0,2,12,1
        1,40,60,1,20,0,0,1
    """)
    solver = cp.Solver(method=method, rtol=1e-11, atol=1e-11)
    sim = cp.simulate(MICHAELIS_MENTEN, data, P, times=TIMES, solver=solver)
    ref = lsoda({0.0: 200.0, 12.0: 200.0, 24.0: 200.0}, TIMES, infusion=(40.0, 43.0, 20.0))
    np.testing.assert_allclose(sim["cp"].values[0], ref, rtol=1e-7, atol=1e-12)


def test_mm_steady_state_is_the_periodic_limit():
    """SS=1 on a nonlinear model (Newton on the period map) against LSODA run for 60 doses."""
    data = table("""
        ID,TIME,AMT,CMT,II,SS,EVID
        1,0,80,1,12,1,1
    """)
    times = np.array([0.5, 3.0, 6.0, 11.0])
    sim = cp.simulate(MICHAELIS_MENTEN, data, P, times=times,
                      solver=cp.Solver(method="tsit5", rtol=1e-11, atol=1e-11))
    n = 60
    ref = lsoda({12.0 * k: 80.0 for k in range(n)}, times + 12.0 * (n - 1))
    np.testing.assert_allclose(sim["cp"].values[0], ref, rtol=1e-7)


def test_no_steady_state_is_reported_not_returned():
    """150 mg every 12 h exceeds the elimination capacity (vmax * II = 120 mg): no steady state
    exists, and the solve must say so rather than return numbers."""
    data = table("""
        ID,TIME,AMT,CMT,II,SS,EVID
        7,0,150,1,12,1,1
    """)
    with pytest.raises(cp.SolverError,
                       match="subject 7: .*steady-state iteration did not converge"):
        cp.simulate(MICHAELIS_MENTEN, data, P, times=[1.0],
                    solver=cp.Solver(method="tsit5", rtol=1e-11, atol=1e-11))
