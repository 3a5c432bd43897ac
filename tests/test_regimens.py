"""Dose-regimen builders and the protocol regimens."""

import numpy as np
import pandas as pd
import pytest

import cellpkpd as cp
from cellpkpd import regimens


def doses(data, cmt):
    t = data.table
    return t[(t.EVID == 1) & (t.CMT == cmt)]


def test_bsa_formulas():
    # Mosteller (1987) and DuBois (1916) for 70 kg, 170 cm.
    assert cp.bsa(70, 170) == pytest.approx(np.sqrt(170 * 70 / 3600))
    assert cp.bsa(70, 170, "dubois") == pytest.approx(0.007184 * 70**0.425 * 170**0.725)
    assert cp.bsa(70, 170) == pytest.approx(1.8181, abs=1e-4)


def test_units_per_kg_per_m2_and_flat():
    reg = cp.regimen(
        cp.Dose(2e6, "cells/kg", "msc_blood"),
        cp.Dose(125, "mg/m2", "pac_central", amount_unit="ug"),
        cp.Dose(200, "mg", "pd1_central", time=7),
    )
    subjects = pd.DataFrame({"ID": [11, 12], "WT": [70.0, 50.0], "HT": [170.0, 160.0]})
    data = reg.to_dataset(subjects, times=[1.0, 8.0], bsa_method="dubois")
    assert data.subjects == (11, 12)
    assert doses(data, "msc_blood").AMT.tolist() == [1.4e8, 1e8]
    expected_bsa = cp.bsa(subjects.WT, subjects.HT, "dubois")
    np.testing.assert_allclose(doses(data, "pac_central").AMT, 125 * 1000 * expected_bsa)
    assert doses(data, "pd1_central").AMT.tolist() == [200.0, 200.0]
    assert (data.table.EVID == 0).sum() == 4


def test_infusion_repeat_and_errors():
    d = cp.Dose(10, "mg", 1, duration=0.5, every=7, count=4).records({})
    assert (d["DUR"], d["ADDL"], d["II"], d["RATE"]) == (0.5, 3, 7, 0.0)
    assert cp.Dose(10, "mg", 1, rate=5).records({})["RATE"] == 5
    with pytest.raises(ValueError, match="either duration= or rate="):
        cp.Dose(10, "mg", 1, duration=1, rate=1)
    with pytest.raises(ValueError, match="needs every="):
        cp.Dose(10, "mg", 1, count=3)
    with pytest.raises(ValueError, match="amount must be finite and > 0"):
        cp.Dose(0, "mg", 1)
    with pytest.raises(ValueError, match="needs the subject's WT"):
        cp.regimen(cp.Dose(1, "mg/kg", 1)).to_dataset(pd.DataFrame({"ID": [1]}))
    with pytest.raises(ValueError, match="needs BSA, or WT"):
        cp.regimen(cp.Dose(1, "mg/m2", 1)).to_dataset(pd.DataFrame({"WT": [70]}))


def test_regimen_simulates_like_the_equivalent_table():
    reg = cp.regimen(cp.Dose(5, "mg/kg", "central", duration=1.0, every=12, count=3))
    data = reg.to_dataset(pd.DataFrame({"WT": [60.0]}), times=np.arange(1, 40, 3.0))
    sim = cp.simulate("pk_1cmt_iv", data)
    table = pd.DataFrame({"ID": [1] * 3, "TIME": [0, 12, 24], "AMT": [300.0] * 3,
                          "EVID": [1] * 3, "CMT": [1] * 3, "RATE": [300.0] * 3})
    ref = cp.simulate("pk_1cmt_iv", table, times=np.arange(1, 40, 3.0))
    np.testing.assert_allclose(sim["cp"].values, ref["cp"].values, rtol=1e-12)


def test_msc_monotherapy_protocol():
    data = regimens.msc_ifna_monotherapy(infusions=3, interval=35).to_dataset(
        pd.DataFrame({"WT": [80.0]}))
    row = doses(data, "msc_blood").iloc[0]
    assert (row.AMT, row.ADDL, row.II) == (1.6e8, 2, 35)
    assert row.DUR == pytest.approx(30 / 1440)
    with pytest.raises(ValueError, match="1-4 infusions"):
        regimens.msc_ifna_monotherapy(infusions=5)
    with pytest.raises(ValueError, match="4-6 weeks"):
        regimens.msc_ifna_monotherapy(interval=21)


def test_msc_combination_protocol_schedule():
    reg = regimens.msc_ifna_combination(dose=6e5, cycle_length=28)
    data = reg.to_dataset(pd.DataFrame({"WT": [70.0], "HT": [170.0]}))

    def times(cmt):
        rows = doses(data, cmt)
        return sorted(t + k * ii for t, n, ii in zip(rows.TIME, rows.ADDL, rows.II, strict=True)
                      for k in range(int(n) + 1))

    assert times("pac_central") == [-5, 23, 51, 79]
    assert times("cyc_central") == [-4, 24, 52, 80]
    assert times("msc_blood") == [28 * k for k in range(8)]
    assert times("pd1_central") == [7 + 28 * k for k in range(8)] + [224, 245, 266, 287]
    pac = doses(data, "pac_central").AMT.iloc[0]
    assert pac == pytest.approx(125 * 1000 * cp.bsa(70, 170))  # µg
    assert doses(data, "msc_blood").AMT.iloc[0] == pytest.approx(6e5 * 70)


def test_carnk_flat_and_per_kg():
    flat = regimens.nkg2d_carnk(1e9).to_dataset(pd.DataFrame({"WT": [70.0]}))
    per_kg = regimens.nkg2d_carnk(1e7, per_kg=True).to_dataset(pd.DataFrame({"WT": [70.0]}))
    assert doses(flat, "e_pb").AMT.tolist() == [1e9]
    assert doses(per_kg, "e_pb").AMT.tolist() == [7e8]
