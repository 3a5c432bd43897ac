"""Dose units (issue 20): every dose's unit is parsed (pint), checked for dimension against the
unit its compartment declares, and converted mass to mass; nothing else is accepted silently.

Expected values are derived by hand from the rules: 125 mg/m² × 1.8 m² = 225 mg = 225,000 µg.
"""

import io

import numpy as np
import pandas as pd
import pytest

import cellpkpd as cp
from cellpkpd import regimens
from cellpkpd.dose_units import (
    compartment_unit,
    conversion_factor,
    dose_factor,
    parse_dose_unit,
)
from cellpkpd.errors import UnitError
from cellpkpd.events import to_model_units
from cellpkpd.loading import bundled_models


@pytest.fixture(scope="module")
def msc():
    return cp.load_model("msc_ifna")


@pytest.fixture(scope="module")
def bundled():
    return {name: cp.load_model(name) for name in bundled_models()}


def doses(data, cmt):
    t = data.table
    return t[t.EVID.isin([1, 4]) & (t.CMT == cmt)]


# -- parsing ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, multiplier, per, per_factor, amount", [
    ("mg", 1.0, None, 1.0, "mg"),
    ("ug", 1.0, None, 1.0, "µg"),
    ("µg", 1.0, None, 1.0, "µg"),
    ("mcg", 1.0, None, 1.0, "µg"),
    ("cells", 1.0, None, 1.0, "cells"),
    ("cells/kg", 1.0, "WT", 1.0, "cells"),
    ("1e6 cells/kg", 1e6, "WT", 1.0, "cells"),
    ("10^6 cells", 1e6, None, 1.0, "cells"),
    ("mg/m2", 1.0, "BSA", 1.0, "mg"),
    ("mg/m^2", 1.0, "BSA", 1.0, "mg"),
    ("mg/m²", 1.0, "BSA", 1.0, "mg"),
    ("mg / kg", 1.0, "WT", 1.0, "mg"),
    ("mg/g", 1.0, "WT", 1000.0, "mg"),  # 1 mg per g of body weight is 1000 mg per kg
    ("nmol", 1.0, None, 1.0, "nmol"),
])
def test_parse(text, multiplier, per, per_factor, amount):
    unit = parse_dose_unit(text)
    assert (unit.multiplier, unit.per, unit.per_factor) == (multiplier, per, per_factor)
    assert unit.amount_text == amount


@pytest.mark.parametrize("text, message", [
    ("cels/kg", "'cels' is not a unit; did you mean 'cells'?"),
    ("furlongs", "'furlongs' is of dimension [length], not an amount"),
    ("", "is empty"),
    ("mg/L", "per 'L' is not a body size"),
    ("mg/kg/day", "per 'kg/day' is not a body size"),
    ("1", "is dimensionless, not an amount"),
    ("/kg", "has no amount unit"),
    ("mg/", "has nothing after '/'"),
    ("0 cells", "multiplier 0 is not finite and > 0"),
    ("mg//kg", "cannot be read as a unit"),
])
def test_bad_units_are_unit_errors(text, message):
    with pytest.raises(UnitError, match="write|a dose is") as err:
        parse_dose_unit(text)
    assert message in str(err.value)
    assert isinstance(err.value, (cp.CellpkpdError, ValueError))


def test_conversion_factors():
    assert conversion_factor("mg", "pac_central", "µg") == pytest.approx(1000.0)
    assert conversion_factor("g", "c", "mg") == pytest.approx(1000.0)
    assert conversion_factor("ng", "c", "mg") == pytest.approx(1e-6)
    assert conversion_factor("1e6 cells", "c", "cells") == pytest.approx(1e6)
    assert conversion_factor("cells", "c", "cells") == 1.0


@pytest.mark.parametrize("dose, unit, message", [
    ("cells", "mg", "is a cell count, but compartment 'c' is declared in 'mg', a mass"),
    ("mg", "cells", "is a mass, but compartment 'c' is declared in 'cells', a cell count"),
    ("mg", "nmol", "need a molar mass"),
    ("mg", "10^9/L", "which is not an amount"),
    ("mg", "mm", "which is not an amount"),
])
def test_mismatches_name_the_compartment_and_its_unit(dose, unit, message):
    with pytest.raises(UnitError, match="give|dose a compartment") as err:
        conversion_factor(dose, "c", unit)
    assert message in str(err.value)


# -- the bundled models ---------------------------------------------------------------------

def test_every_state_unit_of_every_bundled_model_is_understood(bundled):
    """Each state's unit is either an amount a dose can fill (a dose of that very unit goes in
    with factor 1) or a clear error saying the state is not an amount compartment."""
    amounts = 0
    for model in bundled.values():
        for state in model.states:
            try:
                compartment_unit(state.unit, state.name, model.name)
            except UnitError as err:
                assert f"compartment {state.name!r} of model {model.name!r} is declared in " \
                       f"{state.unit!r}, which is not an amount" in str(err)
                continue
            amounts += 1
            assert dose_factor(model, state.name, state.unit) == pytest.approx(1.0)
    assert amounts >= 30


# Each bundled model's dosing compartment(s), their declared unit, and a dose unit that must
# go in with the hand-derived factor (and one that must not).
DOSING = [
    ("msc_ifna", "msc_blood", "cells", "1e6 cells", 1e6, "mg"),
    ("msc_ifna", "pac_central", "µg", "mg", 1000.0, "cells"),
    ("msc_ifna", "cyc_central", "mg", "g", 1000.0, "cells"),
    ("msc_ifna", "pd1_central", "mg", "mg", 1.0, "nmol"),
    ("nkg2d_carnk_mm", "e_pb", "cells", "cells", 1.0, "mg"),
    ("singh2021_idecel", "carte_pb", "cells", "cells", 1.0, "ug"),
    ("pk_1cmt_iv", "central", "mg", "ug", 1e-3, "cells"),
    ("pk_1cmt_mm", "central", "mg", "mg", 1.0, "cells"),
    ("pk_1cmt_oral", "depot", "mg", "mg", 1.0, "cells"),
    ("pk_2cmt_iv", "central", "mg", "g", 1000.0, "nmol"),
    ("pk_2cmt_oral", "depot", "mg", "mg", 1.0, "cells"),
    ("pk_3cmt_iv", "central", "mg", "mg", 1.0, "cells"),
    ("pk_tmdd_qss", "central", "nmol", "umol", 1000.0, "mg"),
    ("pk_transit", "depot", "mg", "mg", 1.0, "cells"),
    ("pkpd_emax", "central", "mg", "mg", 1.0, "cells"),
    ("pkpd_friberg", "central", "mg", "mg", 1.0, "cells"),
    ("pkpd_idr1", "central", "mg", "mg", 1.0, "cells"),
    ("pkpd_idr2", "central", "mg", "mg", 1.0, "cells"),
    ("pkpd_idr3", "central", "mg", "mg", 1.0, "cells"),
    ("pkpd_idr4", "central", "mg", "mg", 1.0, "cells"),
    ("pkpd_sigmoid_emax", "central", "mg", "mg", 1.0, "cells"),
]


@pytest.mark.parametrize("name, cmt, declared, good, factor, bad", DOSING)
def test_bundled_dosing_compartments(bundled, name, cmt, declared, good, factor, bad):
    model = bundled[name]
    assert model.states[model.state_names.index(cmt)].unit == declared
    assert dose_factor(model, cmt, good) == pytest.approx(factor)
    with pytest.raises(UnitError, match=f"compartment {cmt!r} of model {name!r} is declared "
                                        f"in {declared!r}"):
        dose_factor(model, cmt, bad)


def test_every_bundled_model_with_a_dosing_state_is_listed(bundled):
    """Stein 2019 has no dosing compartment (its states are transgene copies per µg of DNA,
    started by initial conditions)."""
    listed = {row[0] for row in DOSING}
    assert set(bundled) - listed == {"stein2019_cart"}


# -- the protocol regimens -------------------------------------------------------------------

def test_protocol_regimens_into_msc_ifna(msc):
    """cells/kg × WT, mg/m² × BSA (into µg: × 1000), flat mg, for WT 70 kg and BSA 1.8 m²."""
    subjects = pd.DataFrame({"WT": [70.0], "BSA": [1.8]})
    data = regimens.msc_ifna_combination(dose=2e6).to_dataset(subjects, model=msc)
    assert data.dose_unit is None
    assert doses(data, "msc_blood").AMT.iloc[0] == pytest.approx(2e6 * 70)  # 1.4e8 cells
    assert doses(data, "pac_central").AMT.iloc[0] == pytest.approx(225_000.0)  # µg
    assert doses(data, "cyc_central").AMT.iloc[0] == pytest.approx(200 * 1.8)  # 360 mg
    assert doses(data, "pd1_central").AMT.iloc[0] == pytest.approx(200.0)  # mg
    mono = regimens.msc_ifna_monotherapy(dose=1e6).to_dataset(subjects, model=msc)
    assert doses(mono, "msc_blood").AMT.iloc[0] == pytest.approx(7e7)


def test_mg_per_kg_and_flat_mg_into_a_pk_model(bundled):
    model = bundled["pk_1cmt_iv"]
    reg = cp.regimen(cp.Dose(5, "mg/kg", "central"), cp.Dose(250, "ug", "central", time=12))
    data = reg.to_dataset(pd.DataFrame({"WT": [60.0]}), model=model)
    assert doses(data, "central").AMT.tolist() == pytest.approx([300.0, 0.25])


def test_carnk_cells_into_the_carnk_model(bundled):
    model = bundled["nkg2d_carnk_mm"]
    data = regimens.nkg2d_carnk(1e7, per_kg=True).to_dataset({"WT": [70.0]}, model=model)
    assert doses(data, "e_pb").AMT.tolist() == [7e8]


# -- the 1000x underdose of issue 20 ---------------------------------------------------------

def test_nab_paclitaxel_without_amount_unit_is_225000_ug(msc):
    """Dose(125, "mg/m2", "pac_central") once put 225 into a compartment declared in µg."""
    reg = cp.regimen(cp.Dose(125, "mg/m2", "pac_central"))
    table = reg.to_dataset({"BSA": [1.8]}, times=[1.0])
    assert table.dose_unit == {"pac_central": "mg"}
    assert doses(table, "pac_central").AMT.tolist() == [225.0]  # mg, and it says so
    converted = to_model_units(msc, table)
    assert doses(converted, "pac_central").AMT.tolist() == pytest.approx([225_000.0])
    assert converted.dose_unit is None
    direct = reg.to_dataset({"BSA": [1.8]}, times=[1.0], model=msc)
    assert doses(direct, "pac_central").AMT.tolist() == pytest.approx([225_000.0])
    # What the solver is given: the problem's dataset is in the compartments' units.
    events = cp.problem(msc, table, times=[1.0]).events
    assert np.nanmax(events.arrays["dose_amt"]) == pytest.approx(225_000.0)


def test_explicit_amount_unit_still_works(msc):
    reg = cp.regimen(cp.Dose(125, "mg/m2", "pac_central", amount_unit="ug"))
    table = reg.to_dataset({"BSA": [1.8]})
    assert doses(table, "pac_central").AMT.tolist() == pytest.approx([225_000.0])
    assert doses(to_model_units(msc, table), "pac_central").AMT.tolist() == \
        pytest.approx([225_000.0])
    with pytest.raises(UnitError, match="amount_unit 'ug' is a mass, but the amount is a cell"):
        cp.Dose(2e6, "cells/kg", "msc_blood", amount_unit="ug")


def test_a_rate_is_converted_with_its_amount(msc):
    """RATE is in the dose's unit per time unit: 10 mg/day into µg is 10,000 µg/day."""
    reg = cp.regimen(cp.Dose(5, "mg", "pac_central", rate=10.0))
    direct = reg.to_dataset(model=msc)
    assert doses(direct, "pac_central")[["AMT", "RATE"]].values[0].tolist() == \
        pytest.approx([5000.0, 10_000.0])
    later = to_model_units(msc, reg.to_dataset())
    assert doses(later, "pac_central")[["AMT", "RATE"]].values[0].tolist() == \
        pytest.approx([5000.0, 10_000.0])


# -- the bad doses of issue 20 -----------------------------------------------------------------

def test_cells_into_a_mass_depot_is_an_error_naming_dose_and_compartment(msc):
    with pytest.raises(UnitError) as err:
        cp.regimen(cp.Dose(2e6, "cells/kg", "cyc_central")).to_dataset({"WT": [70.0]},
                                                                         model=msc)
    text = str(err.value)
    assert "dose 2e+06 cells/kg into 'cyc_central' is a cell count" in text
    assert "compartment 'cyc_central' of model 'msc_ifna' is declared in 'mg'" in text


def test_a_mass_into_a_cell_compartment_is_a_data_error_at_the_model(msc):
    """'2e6 mg/kg msc_blood': without the model the table is built; meeting it, it is refused."""
    table = cp.regimen(cp.Dose(2e6, "mg/kg", "msc_blood")).to_dataset({"WT": [70.0]})
    with pytest.raises(cp.DataError) as err:
        cp.problem(msc, table, times=[1.0])
    (problem,) = err.value.problems
    assert (problem.row, problem.column) == (1, "CMT")
    assert "declared in 'cells', a cell count" in problem.message


@pytest.mark.parametrize("unit", ["cels/kg", "furlongs"])
def test_unknown_dose_units_are_refused_at_once(unit):
    with pytest.raises(UnitError, match=f"dose 1 {unit} into 'msc_blood': unit {unit!r}"):
        cp.Dose(1, unit, "msc_blood")


def test_two_doses_into_one_compartment_in_different_units():
    reg = cp.regimen(cp.Dose(1, "g", "central"), cp.Dose(500, "mg", "central", time=1))
    data = reg.to_dataset()
    assert data.dose_unit == {"central": "g"}
    assert doses(data, "central").AMT.tolist() == pytest.approx([1.0, 0.5])
    with pytest.raises(UnitError, match="dose 5 cells into 'central'"):
        cp.regimen(cp.Dose(1, "g", "central"), cp.Dose(5, "cells", "central")).to_dataset()


def test_a_table_with_units_cannot_be_written_without_the_model(tmp_path, msc):
    table = cp.regimen(cp.Dose(125, "mg/m2", "pac_central")).to_dataset({"BSA": [1.8]})
    with pytest.raises(cp.DataError, match="pass model="):
        table.write_nonmem(tmp_path / "x.csv")
    back = cp.read_nonmem(table.write_nonmem(tmp_path / "x.csv", model=msc))
    assert doses(back, "pac_central").AMT.tolist() == pytest.approx([225_000.0])


# -- a NONMEM table with a stated dose unit ----------------------------------------------------

TABLE = """ID,TIME,AMT,EVID,CMT,DV
1,0,225,1,pac_central,.
1,1,0,0,.,.
2,0,2,1,cyc_central,.
"""


def test_table_dose_unit_is_checked_and_converted(msc):
    data = cp.read_nonmem(io.StringIO(TABLE), dose_unit="mg", dv_required=False)
    converted = to_model_units(msc, data)
    assert converted.table.AMT.tolist() == pytest.approx([225_000.0, 0.0, 2.0])  # µg, -, mg


def test_table_dose_unit_mismatch_names_the_row_and_cmt(msc):
    data = cp.read_nonmem(io.StringIO(TABLE), dose_unit="cells", dv_required=False)
    with pytest.raises(cp.DataError) as err:
        to_model_units(msc, data)
    assert [(p.row, p.column) for p in err.value.problems] == [(1, "CMT"), (3, "CMT")]
    assert "compartment 'pac_central' of model 'msc_ifna' is declared in 'µg'" in \
        err.value.problems[0].message


@pytest.mark.parametrize("unit, message", [("mg/kg", "is per body size"),
                                            ("cels", "did you mean 'cells'?")])
def test_table_dose_unit_must_be_a_flat_amount(unit, message):
    with pytest.raises(cp.DataError, match=message):
        cp.read_nonmem(io.StringIO(TABLE), dose_unit=unit, dv_required=False)


def test_check_data_with_a_dose_unit(tmp_path, capsys):
    from cellpkpd.cli import main

    path = tmp_path / "d.csv"
    path.write_text("ID,TIME,AMT,EVID,CMT,DV\n1,0,100,1,1,.\n1,1,0,0,1,2.0\n")
    assert main(["check-data", str(path), "--model", "pk_1cmt_iv", "--dose-unit", "mg"]) == 0
    assert main(["check-data", str(path), "--model", "pk_1cmt_iv",
                 "--dose-unit", "cells"]) == 1
    assert "row 1, column CMT" in capsys.readouterr().out


def test_fit_toml_dose_unit(tmp_path):
    from cellpkpd.config import ConfigError, load_config

    (tmp_path / "d.csv").write_text("ID,TIME,AMT,DV\n1,0,1,.\n")
    for unit, ok in (("mg", True), ("cels", False), ("mg/kg", False)):
        (tmp_path / "fit.toml").write_text(
            f'[model]\nname = "pk_1cmt_iv"\n[data]\npath = "d.csv"\ndose_unit = "{unit}"\n')
        if ok:
            assert load_config(tmp_path / "fit.toml").raw["data"]["dose_unit"] == "mg"
        else:
            with pytest.raises(ConfigError, match="data.dose_unit"):
                load_config(tmp_path / "fit.toml")
