"""The 29 NONMEM dosing scenarios of mrgsolve/nmtests: every observation row, both solvers."""

import numpy as np
import pandas as pd
import pytest

import cellpkpd as cp

from conftest import DATA

NM = DATA / "nmtests"
SCENARIOS = pd.read_csv(NM / "1001-run-key.csv")


@pytest.fixture(scope="module", params=["closed_form", "tsit5"])
def predictions(request):
    model = cp.load_model(NM / "model.py")
    solver = cp.Solver(method=request.param, rtol=1e-10, atol=1e-10)
    frame = cp.predict_rows(model, NM / "1001.csv", solver=solver)
    frame["NONMEM"] = pd.read_csv(NM / "1001-nm.csv")["CP"].to_numpy()
    return frame[frame.EVID == 0]


def test_all_29_scenarios_present():
    assert len(SCENARIOS) == 29
    assert sorted(pd.read_csv(NM / "1001.csv")["ID"].unique()) == list(range(1, 30))


@pytest.mark.parametrize("scenario", list(SCENARIOS.itertuples()),
                         ids=lambda s: f"{s.ID}-{s.descr}")
def test_scenario_matches_nonmem(predictions, scenario):
    rows = predictions[predictions.ID == scenario.ID]
    assert len(rows) == 131
    # NONMEM prints five significant digits.
    np.testing.assert_allclose(rows["cp"], rows["NONMEM"], rtol=1e-4, atol=1e-2,
                               err_msg=f"scenario {scenario.ID}: {scenario.descr}")
