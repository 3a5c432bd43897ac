"""Time-varying covariates: NONMEM's next-observation-carried-backward, and LOCF on request."""

import numpy as np
import pytest

import cellpkpd as cp

from conftest import table
from models import IV_WEIGHT

DATA = """
    ID,TIME,AMT,CMT,EVID,WT
    1,0,100,1,1,70
    1,10,0,1,2,140
    1,30,0,1,2,140
"""


@pytest.mark.parametrize("rule", ["nocb", "locf"])
def test_covariate_change_between_records(rule):
    cl, v = 2.0, 25.0
    times = np.array([5.0, 10.0, 20.0])
    sim = cp.simulate(IV_WEIGHT, table(DATA), {"cl": cl, "v": v}, times=times, covariates=rule)
    k70, k140 = cl / v, cl * 2 / v
    # NOCB: WT=140 recorded at t=10 holds since the previous record (t=0).
    k_before = k140 if rule == "nocb" else k70
    c10 = 100 / v * np.exp(-k_before * 10)
    expected = [100 / v * np.exp(-k_before * 5), c10, c10 * np.exp(-k140 * 10)]
    np.testing.assert_allclose(sim["cp"].values[0], expected, rtol=1e-10)
