"""Randomly perturbed valid tables: read_nonmem (and translation for a model) either succeed
or raise DataError, never another exception."""

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cellpkpd as cp
from cellpkpd.events import build_events

VALID = """ID,TIME,AMT,EVID,CMT,RATE,ADDL,II,SS,MDV,DV,DVID,BLQ,LLOQ,WT,SEX
1,0,100,1,1,0,2,12,0,1,.,.,0,.,70,m
1,0.5,0,0,2,0,0,0,0,0,3.2,1,0,0.1,70,m
1,24,50,1,2,10,0,0,0,1,.,.,0,.,72,m
1,30,0,0,2,0,0,0,0,0,0.05,1,1,0.1,72,m
2,0,80,1,depot,0,0,12,1,1,.,.,0,.,60,f
2,2,0,0,2,0,0,0,0,0,2.5,1,0,0.1,60,f
"""
LINES = VALID.strip().splitlines()
N_COLS = len(LINES[0].split(","))
NASTY = st.sampled_from(["", ".", "-1", "0", "1e308", "inf", "-inf", "nan", "abc", "-2",
                         "3.5", "1e-300", "99", "C", "#x", " ", "1,2", '"'])


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, len(LINES) - 1), st.integers(0, N_COLS - 1),
                                NASTY), min_size=1, max_size=4),
       drop_line=st.one_of(st.none(), st.integers(1, len(LINES) - 1)))
def test_perturbed_tables_only_raise_data_error(edits, drop_line):
    lines = [line.split(",") for line in LINES]
    for row, col, value in edits:
        lines[row][col] = value
    if drop_line is not None:
        del lines[drop_line]
    text = "\n".join(",".join(line) for line in lines) + "\n"
    model = cp.load_model("pk_1cmt_oral")
    try:
        data = cp.read_nonmem(io.StringIO(text))
        build_events(model, data)
    except cp.DataError as err:
        assert err.problems


def test_absurd_steady_state_infusion_is_a_data_error():
    text = "ID,TIME,AMT,EVID,CMT,RATE,II,SS\n1,0,1e90,1,1,1e-300,1,1\n"
    try:
        build_events(cp.load_model("pk_1cmt_oral"), cp.read_nonmem(io.StringIO(text)))
    except cp.DataError as err:
        assert "dosing intervals" in str(err)
    else:
        raise AssertionError("expected a DataError")
