"""jit + vmap over subjects with different padded schedules equals solving each alone."""

import numpy as np
import pytest

import cellpkpd as cp

from conftest import table
from models import ORAL_MODIFIERS, ORAL_MODIFIERS_ODE

DATA = """
    ID,TIME,AMT,CMT,RATE,ADDL,II,SS,EVID,WT,DV
    1,0,100,1,0,0,0,0,1,70,.
    1,1,0,2,0,0,0,0,0,70,1
    1,5,0,2,0,0,0,0,0,70,1
    2,0,40,2,-2,5,8,0,1,60,.
    2,2,0,2,0,0,0,0,0,60,1
    2,30,0,2,0,0,0,0,0,90,1
    2,31,0,2,0,0,0,0,0,90,1
    2,44,0,2,0,0,0,0,0,90,1
    3,0,80,1,0,0,12,1,1,70,.
    3,3,0,2,0,0,0,0,0,70,1
    3,50,3,0,0,0,0,0,3,70,.
    3,51,25,2,10,0,0,0,1,70,.
    3,52,0,2,0,0,0,0,0,70,1
"""


@pytest.mark.parametrize("model,solver", [
    (ORAL_MODIFIERS, cp.Solver(method="closed_form")),
    (ORAL_MODIFIERS_ODE, cp.Solver(method="tsit5")),
], ids=["closed_form", "tsit5"])
def test_batch_equals_each_subject_alone(model, solver):
    full = cp.read_nonmem(table(DATA))
    params = {"cl": np.array([1.5, 2.5, 3.0]), "ka": np.array([0.5, 0.9, 1.4])}
    batch = cp.predict_rows(model, full, params, solver=solver)
    for k, sid in enumerate(full.subjects):
        alone = full.table[full.table.ID == sid]
        one = cp.predict_rows(model, alone.drop(columns=["ROW"]),
                              {name: v[k] for name, v in params.items()}, solver=solver)
        np.testing.assert_allclose(batch.loc[batch.ID == sid, "cp"].to_numpy(),
                                   one["cp"].to_numpy(), rtol=1e-12, atol=1e-15)
    assert np.all(np.isfinite(batch["cp"]))


def test_chunked_simulation_equals_one_call():
    data = table("\n".join(["ID,TIME,AMT,CMT,EVID"] + [f"{i},0,{10 * i},1,1" for i in range(1, 6)]))
    times = [0.5, 2.0, 8.0]
    cl = np.linspace(1.0, 3.0, 5)
    whole = cp.simulate("pk_1cmt_oral", data, {"cl": cl}, times=times)
    data.seek(0)
    chunked = cp.simulate("pk_1cmt_oral", data, {"cl": cl}, times=times, chunk_size=2)
    np.testing.assert_array_equal(whole["cp"].values, chunked["cp"].values)
