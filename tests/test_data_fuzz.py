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


# -- issue 20: mutated real tables (tests/table_mutations.py; benchmarks/fuzz_tables.py runs
# the same strategy with thousands of examples) ---------------------------------------------

import table_mutations as tm  # noqa: E402


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=tm.cases())
def test_mutated_real_tables_are_read_correctly_or_refused_by_name(case):
    """Every defect is a cellpkpd error naming its row or column (or, for the whole file, the
    table); every harmless change of format reads back the same dataset."""
    result, detail = tm.outcome(case)
    assert result not in tm.FAILURES, (case.source, case.kind, detail)


def _problems(text):
    try:
        cp.read_nonmem(io.StringIO(text))
    except cp.DataError as err:
        return err.problems
    raise AssertionError("expected a DataError")


def test_a_row_with_extra_fields_is_named():
    """Found by the fuzz: the error named no row ("the table cannot be parsed as CSV")."""
    (problem,) = _problems("ID,TIME,AMT\n1,0,100\n1,1,0,7\n1,2,0\n")
    assert problem.row == 2
    assert "the row has 4 fields, more fields than the header's 3" in problem.message


def test_a_one_letter_typo_of_a_flag_item_is_named():
    """Found by the fuzz: 'WLQ' (for BLQ) was read as a covariate, losing every BLQ flag."""
    text = ("ID,TIME,AMT,EVID,MDV,DV,WLQ,LLOQ\n1,0,100,1,1,.,0,.\n1,1,0,0,0,0.1,1,0.5\n"
            "1,2,0,0,0,3.0,0,0.5\n")
    (problem,) = _problems(text)
    assert problem.column == "WLQ" and "did you mean BLQ?" in problem.message


def test_a_swapped_item_name_is_named():
    """Found by the fuzz: 'MCT' (for CMT) was read as a covariate: every dose into CMT 1."""
    (problem,) = _problems("ID,TIME,AMT,MCT\n1,0,100,2\n1,1,0,2\n")
    assert problem.column == "MCT" and "did you mean CMT?" in problem.message


def test_a_covariate_one_letter_from_an_item_is_still_a_covariate():
    """ALT is one letter from AMT, RACE from RATE, and a 0/1 SEX is no flag's typo."""
    data = cp.read_nonmem(io.StringIO("ID,TIME,DV,ALT,RACE,SEX\n1,0,.,30,2,1\n"
                                      "1,1,3.5,30,2,1\n"))  # no AMT, no RATE
    assert data.covariate_columns == ("ALT", "RACE", "SEX")
