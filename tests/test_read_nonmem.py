"""read_nonmem basics (the datasets issue extends these)."""

import pandas as pd
import pytest

import cellpkpd as cp

from conftest import DATA, table


def test_reference_tables_load_unchanged():
    theoph = cp.read_nonmem(DATA / "theoph" / "theoph_nonmem.csv")
    assert theoph.n_subjects == 12 and theoph.covariate_columns == ("WT",)
    nm = cp.read_nonmem(DATA / "nmtests" / "1001.csv")
    assert nm.n_subjects == 29 and len(nm.table) == 3837
    assert set(nm.covariate_columns) == {"LAGT", "MODE", "DUR2", "RAT2", "BIOAV"}


def test_conventions_missing_comments_case_and_inference():
    data = cp.read_nonmem(table("""
        c,id,time,amt,cmt,dv,wt
        .,1,0,100,1,.,70
        C,1,0.5,0,2,99,70
        .,1,1,0,2,3.5,70
        # a comment line
        .,2,0,50,central,.,80
    """))
    t = data.table
    assert list(t.ROW) == [1, 3, 5]  # the comment rows are dropped, row numbers kept
    assert list(t.EVID) == [1, 0, 1] and list(t.MDV) == [1, 0, 1]
    assert t.CMT.tolist() == [1, 2, "central"]
    assert data.subjects == (1, 2)


def test_every_problem_is_listed_with_row_and_column():
    with pytest.raises(cp.DataError) as err:
        cp.read_nonmem(table("""
            ID,TIME,AMT,EVID,CMT,DV
            1,0,100,1,1,.
            1,abc,0,0,2,1
            1,2,0,7,2,1
            1,1,0,0,2,1
        """))
    found = {(p.row, p.column) for p in err.value.problems}
    assert found == {(2, "TIME"), (3, "EVID"), (4, "TIME")}  # row 4: time goes backwards
    assert err.value.rows == [2, 3, 4]


def test_missing_id_or_time_and_empty_table():
    with pytest.raises(cp.DataError, match="required column TIME is missing"):
        cp.read_nonmem(pd.DataFrame({"ID": [1], "AMT": [1]}))
    with pytest.raises(cp.DataError, match="header but no data rows"):
        cp.read_nonmem(table("ID,TIME,AMT"))
