"""read_nonmem: every rejection names its row; items, round trips, summary."""

import io

import numpy as np
import pandas as pd
import pytest

import cellpkpd as cp

from conftest import DATA, table

HEADER = "ID,TIME,AMT,EVID,CMT,RATE,ADDL,II,SS,MDV,DV"
GOOD = "1,0,100,1,1,0,0,0,0,1,.\n1,1,0,0,2,0,0,0,0,0,5.1\n"


def bad_row(row: str, header: str = HEADER) -> io.StringIO:
    """A valid two-row subject followed by one bad record (data row 3)."""
    return io.StringIO(f"{header}\n{GOOD}{row}\n")


REJECTIONS = {
    "non-numeric": ("1,abc,0,0,2,0,0,0,0,0,1", "TIME", "not a number"),
    "non-finite": ("1,2,inf,1,1,0,0,0,0,1,.", "AMT", "not finite"),
    "time backwards": ("1,0.5,0,0,2,0,0,0,0,0,1", "TIME", "goes backwards"),
    "evid": ("1,2,0,5,2,0,0,0,0,0,1", "EVID", "EVID must be"),
    "amt <= 0": ("1,2,0,1,1,0,0,0,0,1,.", "AMT", "AMT > 0"),
    "negative amt": ("1,2,-5,1,1,0,0,0,0,1,.", "AMT", "AMT > 0"),
    "rate": ("1,2,10,1,2,-3,0,0,0,1,.", "RATE", "RATE must be"),
    "addl without ii": ("1,2,10,1,1,0,3,0,0,1,.", "II", "ADDL > 0 needs II"),
    "ss without ii": ("1,2,10,1,1,0,0,0,1,1,.", "II", "steady-state dose"),
    "obs without dv": ("1,2,0,0,2,0,0,0,0,0,.", "DV", "has no DV"),
    "huge addl": ("1,2,10,1,1,0,1e9,1,0,1,.", "ADDL", "ADDL must be a whole number"),
    "split subject": ("2,0,0,0,2,0,0,0,0,0,1\n1,3,0,0,2,0,0,0,0,0,1", "ID",
                      "two separate blocks"),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_rejection_names_row_column_and_fix(case):
    row, column, message = REJECTIONS[case]
    with pytest.raises(cp.DataError) as err:
        cp.read_nonmem(bad_row(row))
    bad_rows = 4 if case == "split subject" else 3
    problem = next(p for p in err.value.problems if p.column == column)
    assert problem.row == bad_rows and message in problem.message and problem.fix
    assert f"row {bad_rows}, column {column}" in str(err.value)


def test_time_may_go_back_across_a_reset():
    data = cp.read_nonmem(bad_row("1,0,100,4,1,0,0,0,0,1,."))
    assert len(data.table) == 3


def test_steady_state_infusion_with_zero_amount_is_allowed():
    data = cp.read_nonmem(bad_row("1,2,0,1,1,10,0,0,1,1,."))
    assert len(data.table) == 3


def test_missing_id_or_time_column():
    with pytest.raises(cp.DataError, match="required column ID is missing"):
        cp.read_nonmem(io.StringIO("TIME,AMT\n0,1\n"))
    with pytest.raises(cp.DataError, match="required column TIME is missing"):
        cp.read_nonmem(pd.DataFrame({"ID": [1], "AMT": [1.0]}))


@pytest.mark.parametrize("text", ["", "\n", "ID,TIME,AMT\n"])
def test_empty_table(text):
    with pytest.raises(cp.DataError, match="empty|no data rows"):
        cp.read_nonmem(io.StringIO(text))


def test_blq_without_lloq():
    with pytest.raises(cp.DataError) as err:
        cp.read_nonmem(bad_row("1,2,0,0,2,0,0,0,0,0,1,1", HEADER + ",BLQ"))
    problem = err.value.problems[0]
    assert (problem.row, problem.column) == (3, "BLQ") and "no LLOQ" in problem.message


def test_censoring_items():
    data = cp.read_nonmem(table("""
        ID,TIME,AMT,EVID,DV,CENS,LIMIT
        1,0,100,1,.,0,.
        1,1,0,0,2,1,.
        1,2,0,0,0.5,0,1
        1,3,0,0,3,1,1.5
    """))
    t = data.table
    assert list(t.BLQ) == [0, 1, 0, 1]
    assert t.LLOQ.tolist()[1:] == [2.0, 1.0, 1.5]  # CENS=1 without a limit: DV is the limit
    # Rows 2 and 4 are flagged; row 3 is censored too, its DV being below its LLOQ.
    assert "BLQ 100.0%" in data.summary() and "first (no CMT): 1" in data.summary()


def test_dvid_names_numbers_map_and_unknown_output():
    text = "ID,TIME,AMT,EVID,DV,DVID\n1,0,100,1,.,.\n1,1,0,0,2,1\n1,2,0,0,3,2\n"
    mapped = cp.read_nonmem(io.StringIO(text), dvid_map={1: "cp", 2: "effect"})
    assert mapped.table.DVID.tolist()[1:] == ["cp", "effect"]
    assert mapped.table.DVID.isna().tolist() == [True, False, False]
    assert "observations of effect: 1" in mapped.summary()
    with pytest.raises(cp.DataError, match=r"row 3, column DVID: DVID 2 is not in dvid_map"):
        cp.read_nonmem(io.StringIO(text), dvid_map={1: "cp"})
    named = text.replace(",1\n1,2", ",cp\n1,2").replace(",2\n", ",conc\n")
    with pytest.raises(cp.DataError, match=r"row 3, column DVID: DVID 'conc' names no output"):
        cp.read_nonmem(io.StringIO(named), outputs=("cp",))
    with pytest.raises(cp.DataError, match=r"row 3, column DVID: DVID 2 names no output"):
        cp.read_nonmem(io.StringIO(text), outputs=("cp",))


def test_text_covariate_is_encoded_with_a_stated_mapping():
    data = cp.read_nonmem(table("""
        ID,TIME,AMT,EVID,SEX,WT
        1,0,100,1,male,70
        2,0,100,1,female,60
        3,0,100,1,male,80
    """))
    assert data.encodings == {"SEX": {"female": 0, "male": 1}}
    assert data.table.SEX.tolist() == [1, 0, 1]
    assert "SEX (text: {'female': 0, 'male': 1})" in data.summary()
    with pytest.raises(cp.DataError, match="row 2, column WT: value 'heavy' is text"):
        cp.read_nonmem(table("""
            ID,TIME,AMT,EVID,WT
            1,0,100,1,70
            2,0,100,1,heavy
        """))


def test_missing_covariate_needs_a_fill_rule():
    text = "ID,TIME,AMT,EVID,WT\n1,0,100,1,.\n1,1,0,2,70\n1,2,0,2,.\n"
    with pytest.raises(cp.DataError, match="row 1, column WT: covariate WT is missing"):
        cp.read_nonmem(io.StringIO(text))
    assert cp.read_nonmem(io.StringIO(text), covariate_fill="locf").table.WT.tolist() == [70] * 3
    nocb = cp.read_nonmem(io.StringIO(text), covariate_fill="nocb")
    assert nocb.table.WT.tolist() == [70] * 3


def test_dataset_views(tmp_path):
    data = cp.read_nonmem(DATA / "theoph" / "theoph_nonmem.csv")
    assert data.subjects == tuple(range(1, 13))
    assert list(data.covariates.columns) == ["ID", "TIME", "WT"]
    xr_data = data.to_xarray()
    assert xr_data.sizes["record"] == 144 and float(xr_data.DV.max()) == 11.4
    assert "12 subjects, 144 records (12 dose records, 132 observations)" in data.summary()


@pytest.mark.parametrize("path", [DATA / "theoph" / "theoph_nonmem.csv",
                                  DATA / "nmtests" / "1001.csv"], ids=["theoph", "nmtests"])
def test_round_trip_reference_tables(path, tmp_path):
    original = cp.read_nonmem(path)
    written = original.write_nonmem(tmp_path / "out.csv")
    again = cp.read_nonmem(written)
    assert again.equals(original)
    assert original.to_dataframe().shape == again.to_dataframe().shape


def test_round_trip_with_text_covariate_dvid_blq_and_dur(tmp_path):
    original = cp.read_nonmem(table("""
        ID,TIME,AMT,EVID,CMT,DUR,DV,DVID,BLQ,LLOQ,SEX,OCC
        1,0,100,1,central,2,.,.,0,.,female,1
        1,1,0,0,.,0,0.5,cp,1,1,female,1
        1,2,0,0,.,0,3.25,cp,0,1,female,1
    """))
    again = cp.read_nonmem(original.write_nonmem(tmp_path / "x.csv"))
    assert again.equals(original) and again.encodings == original.encodings
    codes = cp.read_nonmem(original.write_nonmem(tmp_path / "codes.csv", categorical="codes"))
    assert codes.table.SEX.tolist() == [0, 0, 0] and not codes.encodings


def test_dataset_inequality_is_detected():
    a = cp.read_nonmem(bad_row("1,2,0,0,2,0,0,0,0,0,7"))
    b = cp.read_nonmem(bad_row("1,2,0,0,2,0,0,0,0,0,8"))
    assert not a.equals(b)


def test_dur_is_a_duration_and_f_changes_the_rate():
    """DUR: a 2-h infusion; with F=0.5 the same duration at half the rate (rxode2's rule)."""
    f_model = cp.Model(
        name="iv_f", time_unit="h", states=[cp.State("central", "mg")],
        params=[cp.Param("cl", 2.0, "L/h"), cp.Param("v", 10.0, "L"),
                cp.Param("f", 0.5, "", bounds=(0, 1))],
        vector_field=lambda t, s, p, c: {"central": -p.cl / p.v * s.central},
        outputs=[cp.Output("cp", "mg/L", lambda t, s, p, c: s.central / p.v)],
        bioavailability={"central": lambda p, c: p.f}, linear=True)
    data = io.StringIO("ID,TIME,AMT,EVID,CMT,DUR\n1,0,100,1,1,2\n")
    times = np.array([1.0, 2.0, 5.0])
    sim = cp.simulate(f_model, data, times=times)
    k, rate = 0.2, 0.5 * 100 / 2.0
    during = rate / (k * 10) * (1 - np.exp(-k * times))
    after = rate / (k * 10) * (1 - np.exp(-k * 2)) * np.exp(-k * (times - 2))
    np.testing.assert_allclose(sim["cp"].values[0], np.where(times <= 2, during, after),
                               rtol=1e-10)
    with pytest.raises(cp.DataError, match="both RATE and DUR"):
        cp.read_nonmem(io.StringIO("ID,TIME,AMT,EVID,CMT,DUR,RATE\n1,0,100,1,1,2,5\n"))


def test_dvid_is_checked_when_a_model_meets_the_data():
    data = cp.read_nonmem(table("""
        ID,TIME,AMT,EVID,DV,DVID
        1,0,100,1,.,.
        1,1,0,0,2,cp
        1,2,0,0,2,auc
    """))
    with pytest.raises(cp.DataError, match=r"row 3, column DVID: DVID 'auc' names no output"):
        cp.simulate("pk_1cmt_oral", data)
