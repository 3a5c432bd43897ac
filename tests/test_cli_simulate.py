"""`cellpkpd simulate MODEL --regimen ...`: doses from the command line, checked against the
closed-form one-compartment solution, per-kg and per-m² scaling against covariates computed
here, and every bad input against its error message."""

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from cellpkpd import regimens
from cellpkpd.cli import main, parse_regimen, regimen_subjects
from cellpkpd.model import Covariate

CL, V = 2.0, 10.0  # L/h, L: k = 0.2 /h
K = CL / V


def bolus(t, amount, t0=0.0):
    """Concentration after a bolus ``amount`` at ``t0`` (value at ``t0`` taken after it)."""
    return np.where(t >= t0, amount / V * np.exp(-K * (t - t0)), 0.0)


def infusion(t, amount, t0, duration):
    """Concentration from ``amount`` infused at a constant rate over [t0, t0 + duration]."""
    rate = amount / duration
    during = rate / CL * (1 - np.exp(-K * np.clip(t - t0, 0, duration)))
    return np.where(t >= t0 + duration, during * np.exp(-K * (t - t0 - duration)), during)


@pytest.fixture(scope="module")
def bolus_and_infusions(tmp_path_factory):
    """Two alike subjects: 100 mg bolus at 0, and 50 mg infused over 2 h at 6 and 18 h."""
    out = tmp_path_factory.mktemp("sim") / "sim.nc"
    code = main(["simulate", "pk_1cmt_iv", "--regimen", "100 mg central",
                 "--regimen", "50 mg 1 at 6 every 12 x 2 over 2", "--subjects", "2",
                 "--param", f"cl={CL}", "--param", f"v={V}", "--times", "0:30:0.25",
                 "--out", str(out)])
    assert code == 0
    return xr.load_dataset(out)


def test_bolus_and_infusions_match_the_closed_form(bolus_and_infusions):
    sim = bolus_and_infusions
    t = sim["time"].to_numpy()
    expected = bolus(t, 100.0) + infusion(t, 50.0, 6.0, 2.0) + infusion(t, 50.0, 18.0, 2.0)
    assert sim.sizes == {"id": 2, "time": 121}
    for i in range(2):
        np.testing.assert_allclose(sim["cp"].to_numpy()[i], expected, rtol=1e-8, atol=1e-12)
    assert sim["cp"].attrs["units"] == "mg/L" and sim["time"].attrs["units"] == "h"
    assert sim.attrs["regimen"] == "100 mg central + 50 mg 1 at 6 every 12 x 2 over 2"


def test_per_kg_and_per_m2_doses_scale_with_each_subjects_covariates(tmp_path):
    """ug/kg scales with WT (and is converted into the mg compartment: 3000 ug/kg x 72 kg is
    216 mg), mg/m² with Mosteller's BSA = sqrt(WT·HT/3600), per subject of a
    covariate CSV; the CSV output reads back."""
    subjects = pd.DataFrame({"ID": [7, 9], "WT": [72.0, 50.0], "HT": [162.0, 180.0]})
    subjects.to_csv(tmp_path / "subjects.csv", index=False)
    out = tmp_path / "sim.csv"
    assert main(["simulate", "pk_1cmt_iv", "--covariates", str(tmp_path / "subjects.csv"),
                 "--regimen", "3000 ug/kg central", "--regimen", "10 mg/m2 central at 4",
                 "--param", f"cl={CL}", "--param", f"v={V}", "--times", "0,1,4,5,12",
                 "--out", str(out), "--plot", str(tmp_path / "sim.png")]) == 0
    assert (tmp_path / "sim.png").read_bytes()[:4] == b"\x89PNG"
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "time", "cp"] and set(frame.id) == {7, 9}
    bsa = {7: 1.8, 9: math.sqrt(50.0 * 180.0 / 3600.0)}  # sqrt(72·162/3600) = sqrt(3.24)
    for sid, wt in ((7, 72.0), (9, 50.0)):
        rows = frame[frame.id == sid]
        t = rows.time.to_numpy()
        expected = bolus(t, 3.0 * wt) + bolus(t, 10.0 * bsa[sid], t0=4.0)
        np.testing.assert_allclose(rows.cp.to_numpy(), expected, rtol=1e-8)


@pytest.mark.parametrize("spec, builder, kwargs", [
    ("msc_ifna_combination:dose=6e5,cycles=12", regimens.msc_ifna_combination,
     dict(dose=6e5, cycles=12)),
    ("msc_ifna_monotherapy: dose=2e6, infusions=2, interval=35",
     regimens.msc_ifna_monotherapy, dict(dose=2e6, infusions=2, interval=35.0)),
    ("nkg2d_carnk:dose=1e9", regimens.nkg2d_carnk, dict(dose=1e9)),
    ("nkg2d_carnk:dose=2e7,per_kg=true", regimens.nkg2d_carnk, dict(dose=2e7, per_kg=True)),
    ("msc_ifna_combination", regimens.msc_ifna_combination, {}),
])
def test_protocol_regimens_by_name(spec, builder, kwargs):
    assert parse_regimen(spec) == builder(**kwargs)


def test_dose_spec_fields():
    (dose,) = parse_regimen("125 mg/m2 pac_central at -5 every 28 x 4 over 0.0208 in ug").doses
    assert dose == regimens.Dose(125.0, "mg/m2", "pac_central", time=-5.0, every=28.0,
                                 count=4, duration=0.0208, amount_unit="ug")
    (dose,) = parse_regimen("2 mg 1 rate 0.5").doses
    assert dose == regimens.Dose(2.0, "mg", 1, rate=0.5)


def fake_model(*covariates):
    return SimpleNamespace(name="fake", covariates=covariates)


WT70, HT170, BSA18 = (Covariate("WT", 70.0, "kg"), Covariate("HT", 170.0, "cm"),
                      Covariate("BSA", 1.8, "m²"))
PER_M2 = regimens.regimen(regimens.Dose(1.0, "mg/m2", "central"))
PER_KG = regimens.regimen(regimens.Dose(1.0, "mg/kg", "central"))


def test_missing_covariates_come_from_the_models_defaults():
    subjects, notes = regimen_subjects(fake_model(WT70, HT170, BSA18), PER_M2, {"WT": 80.0})
    assert subjects.WT.tolist() == [80.0] and subjects.HT.tolist() == [170.0]
    assert "BSA" not in subjects  # population_table derives it from WT and HT
    assert notes == ["HT not given: using the default of model 'fake', 170 cm"]
    subjects, notes = regimen_subjects(fake_model(BSA18), PER_M2, {}, n_subjects=3)
    assert subjects.BSA.tolist() == [1.8] * 3 and len(notes) == 1
    subjects, notes = regimen_subjects(fake_model(WT70), PER_KG, {"WT": 60.0})
    assert subjects.WT.tolist() == [60.0] and notes == []
    nan_default = Covariate("WT", float("nan"), "kg")  # "absent": not a default to dose by
    with pytest.raises(SystemExit, match="no default WT: give --cov WT=VALUE"):
        regimen_subjects(fake_model(nan_default), PER_KG, {})
    with pytest.raises(SystemExit, match="no default HT: give --cov BSA=VALUE, or --cov HT"):
        regimen_subjects(fake_model(BSA18), PER_M2, {"WT": 70.0})


def run_error(capsys, *argv):
    """The message of a command-line error (which must come before any simulation)."""
    with pytest.raises(SystemExit) as raised:
        main(["simulate", *argv])
    return str(raised.value) + capsys.readouterr().err


IV = ("pk_1cmt_iv", "--times", "0:4:1", "--out")


@pytest.mark.parametrize("args, message", [
    (["--regimen", "foo:dose=1"], "'foo' is not a known regimen; use one of "
     "['msc_ifna_combination', 'msc_ifna_monotherapy', 'nkg2d_carnk']"),
    (["--regimen", "nkg2d_carnk:dose"], "option 'dose' is not KEY=VALUE"),
    (["--regimen", "nkg2d_carnk:dose=1e9,cells=2"], "nkg2d_carnk has no option 'cells'; its "
     "options are ['dose', 'per_kg', 'cmt', 'infusion_duration']"),
    (["--regimen", "nkg2d_carnk:dose=1e9,per_kg=maybe"], "'maybe' is not true or false"),
    (["--regimen", "msc_ifna_monotherapy:infusions=2.5"], "'2.5' is not a whole number"),
    (["--regimen", "msc_ifna_monotherapy:infusions=6"], "1-4 infusions"),
    (["--regimen", "nkg2d_carnk"], "nkg2d_carnk needs dose"),
    (["--regimen", "nkg2d_carnk:dose=1e9"], "compartment 'e_pb' is not a state of model "
     "'pk_1cmt_iv'; use one of ['central'] or a number 1-1"),
    (["--regimen", "5 mg gut"], "compartment 'gut' is not a state"),
    (["--regimen", "5 mg 2"], "compartment 2 is not a state"),
    (["--regimen", "-5 mg central"], "the amount must be > 0, got -5"),
    (["--regimen", "nan mg central"], "amount: 'nan' is not a finite number"),
    (["--regimen", "5 mg"], "a dose needs AMOUNT UNIT CMT"),
    (["--regimen", "5 mg central each 2"], "'each' is not one of ['at', 'every', 'x'"),
    (["--regimen", "5 mg central every 12"], "'every' needs 'x COUNT'"),
    (["--regimen", "5 mg central over"], "'over' needs a value"),
    (["--regimen", "5 mg central over 1 rate 2"], "either duration= or rate=, not both"),
    (["--regimen", "5 mg/L central"], "per 'L' is not a body size"),
    (["--regimen", "5 cels/kg central"], "'cels' is not a unit; did you mean 'cells'?"),
    (["--regimen", "5 furlongs central"], "'furlongs' is of dimension [length], not an amount"),
    (["--regimen", "2e6 cells/kg central"], "is a cell count, but compartment 'central' of "
     "model 'pk_1cmt_iv' is declared in 'mg', a mass"),
    (["--regimen", "5 mg/kg central"], "a dose per kg needs each subject's body weight WT"),
    (["--regimen", "5 mg/m2 central", "--cov", "WT=70"], "give --cov BSA=VALUE, or --cov HT"),
    (["--regimen", "5 mg/kg central", "--cov", "WT=-70"], "WT must be a number > 0"),
    (["--regimen", "5 mg central", "--cov", "WT"], "--cov takes NAME=VALUE"),
    (["--regimen", "5 mg central", "--subjects", "0"], "--subjects must be >= 1"),
])
def test_bad_regimen_input_names_the_option_and_the_fix(capsys, tmp_path, args, message):
    out = tmp_path / "never.csv"
    assert message in run_error(capsys, *IV, str(out), *args)
    assert not out.exists()


def test_bad_command_lines(capsys, tmp_path):
    out = str(tmp_path / "x.csv")
    assert "--regimen needs --times" in run_error(
        capsys, "pk_1cmt_iv", "--regimen", "5 mg central", "--out", out)
    assert "--cov goes with --regimen" in run_error(
        capsys, "pk_1cmt_iv", "--data", "d.csv", "--cov", "WT=70", "--out", out)
    assert "must end in .nc (NetCDF) or .csv" in run_error(
        capsys, *IV[:-1], "--regimen", "5 mg central", "--out", str(tmp_path / "x.txt"))
    assert "--times '0:x:1': 'x' is not a number" in run_error(
        capsys, "pk_1cmt_iv", "--regimen", "5 mg central", "--times", "0:x:1", "--out", out)
    assert "not allowed with argument --data" in run_error(
        capsys, *IV, out, "--data", "d.csv", "--regimen", "5 mg central")
    assert "one of the arguments --data --regimen is required" in run_error(capsys, *IV, out)
    cov = tmp_path / "cov.csv"
    pd.DataFrame({"WT": [70.0, 80.0]}).to_csv(cov, index=False)
    assert "drop --subjects" in run_error(capsys, *IV, out, "--regimen", "5 mg central",
                                          "--covariates", str(cov), "--subjects", "2")
    assert "already has a WT column" in run_error(
        capsys, *IV, out, "--regimen", "5 mg central", "--covariates", str(cov),
        "--cov", "WT=70")
