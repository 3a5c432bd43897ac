"""The shape of simulate's result: dims, coords, units, default times, states."""

import numpy as np

import cellpkpd as cp

from conftest import DATA


def test_theophylline_simulation_structure():
    data = cp.read_nonmem(DATA / "theoph" / "theoph_nonmem.csv")
    sim = cp.simulate("pk_1cmt_oral", data, {"ka": 1.561, "cl": 0.04029, "v": 0.4556},
                      states=True)
    assert sim["cp"].dims == ("id", "time")
    assert list(sim["id"].values) == list(range(1, 13))
    obs = data.table[(data.table.EVID == 0)]
    np.testing.assert_array_equal(sim["time"].values, np.unique(obs.TIME))
    assert sim["cp"].attrs["units"] == "mg/L" and sim["time"].attrs["units"] == "h"
    assert sim["central"].attrs["units"] == "mg"
    assert sim.attrs["model"] == "pk_1cmt_oral" and sim.attrs["solver"] == "closed_form"
    assert np.all(np.isfinite(sim["cp"].values))
    # Typical values of nlme's fit against the analytic one-compartment oral solution.
    ka, cl, v = 1.561, 0.04029, 0.4556
    k = cl / v
    t = sim["time"].values
    for sid in (1, 7):
        amt = data.table[(data.table.ID == sid) & (data.table.EVID == 1)].AMT.iloc[0]
        analytic = amt * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
        np.testing.assert_allclose(sim["cp"].sel(id=sid).values, analytic, rtol=1e-9)

def test_output_at_a_dose_time_is_after_the_dose():
    import io
    sim = cp.simulate("pk_1cmt_iv", io.StringIO("ID,TIME,AMT,CMT,EVID\n1,0,100,1,1\n"),
                      {"cl": 1.0, "v": 10.0}, times=[0.0])
    assert float(sim["cp"].values[0, 0]) == 10.0
