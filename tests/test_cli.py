"""The command line: simulate to CSV/NetCDF with a plot, check-data, models."""

import pandas as pd
import pytest
import xarray as xr

from cellpkpd.cli import main

from conftest import DATA

THEOPH = str(DATA / "theoph" / "theoph_nonmem.csv")


def test_simulate_writes_csv_and_plot(tmp_path, capsys):
    out, png = tmp_path / "sim.csv", tmp_path / "fig.png"
    code = main(["simulate", "pk_1cmt_oral", "--data", THEOPH, "--param", "ka=1.5",
                 "--times", "0:24:6", "--out", str(out), "--plot", str(png)])
    assert code == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "time", "cp"] and len(frame) == 12 * 5
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob("*.partial*"))


def test_simulate_writes_netcdf_with_units(tmp_path):
    out = tmp_path / "sim.nc"
    assert main(["simulate", "pk_1cmt_oral", "--data", THEOPH, "--out", str(out),
                 "--states"]) == 0
    sim = xr.load_dataset(out)
    assert sim["cp"].attrs["units"] == "mg/L" and "central" in sim


def test_check_data(tmp_path, capsys):
    assert main(["check-data", THEOPH, "--model", "pk_1cmt_oral"]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,TIME,AMT,CMT,EVID\n1,0,100,gut,1\n1,x,0,2,0\n")
    assert main(["check-data", str(bad)]) == 1
    assert "row 2, column TIME" in capsys.readouterr().out
    bad.write_text("ID,TIME,AMT,CMT,EVID\n1,0,100,gut,1\n")
    assert main(["check-data", str(bad), "--model", "pk_1cmt_oral"]) == 1
    assert "row 1, column CMT" in capsys.readouterr().out


SIM_TABLE = ("ID,TIME,AMT,CMT,EVID,MDV,DV\n1,0,100,1,1,1,.\n1,1,0,2,0,0,.\n1,4,0,2,0,0,.\n"
             "2,0,50,1,1,1,.\n2,2,0,2,0,0,.\n")


@pytest.mark.parametrize("model", [[], ["--model", "pk_1cmt_oral"]])
def test_check_data_for_simulate_accepts_output_rows_without_dv(tmp_path, capsys, model):
    path = tmp_path / "sim.csv"
    path.write_text(SIM_TABLE)
    # A fit table (the default) needs a DV on every observation row: each row is named.
    assert main(["check-data", str(path), *model]) == 1
    out = capsys.readouterr().out
    assert all(f"row {r}, column DV" in out for r in (2, 3, 5)) and "row 1," not in out
    assert "--for simulate" in out
    assert main(["check-data", str(path), "--for", "fit", *model]) == 1
    capsys.readouterr()
    # The same table as `cellpkpd simulate --data` reads it.
    assert main(["check-data", str(path), "--for", "simulate", *model]) == 0
    assert "OK for simulate" in capsys.readouterr().out


def test_check_data_for_simulate_still_checks_the_rest(tmp_path, capsys):
    path = tmp_path / "sim.csv"
    path.write_text(SIM_TABLE.replace("1,0,100,1,1,1,.", "1,0,100,gut,1,1,."))
    assert main(["check-data", str(path), "--for", "simulate", "--model", "pk_1cmt_oral"]) == 1
    assert "row 1, column CMT" in capsys.readouterr().out
    path.write_text(SIM_TABLE.replace("1,4,0,2,0,0,.", "1,x,0,2,0,0,."))
    assert main(["check-data", str(path), "--for", "simulate"]) == 1
    assert "row 3, column TIME" in capsys.readouterr().out


def test_models_lists_bundled(capsys):
    assert main(["models"]) == 0
    assert "pk_2cmt_oral" in capsys.readouterr().out
