"""The command line: simulate to CSV/NetCDF with a plot, check-data, models."""

import pandas as pd
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


def test_models_lists_bundled(capsys):
    assert main(["models"]) == 0
    assert "pk_2cmt_oral" in capsys.readouterr().out
