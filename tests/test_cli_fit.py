"""`cellpkpd fit CONFIG`: a tiny analysis end to end (every output file), an interrupted run
resumed from its checkpoint (bit-identical to an uninterrupted one), and clear errors for
wrong configs."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import cellpkpd as cp
from cellpkpd.cli import main
from cellpkpd.config import ConfigError, load_config
from cellpkpd.fitting import sampler

from conftest import DATA

CONFIG = """
seed = 3

[model]
name = "pk_1cmt_oral"

[data]
path = "theoph.csv"

[population]
iiv = ["ka", "cl", "v"]
error = {{ cp = "additive" }}

[method]
name = "nuts"
chains = 2
warmup = {warmup}
samples = {samples}

[report]
vpc_replicates = 20
"""

EXPECTED = ["posterior.nc", "summary.csv", "diagnostics.txt", "run.json", "provenance.json",
            "gof_cp.png", "individual_cp.png", "vpc_cp.png", "trace_rank.png", "report.html"]


def _folder(tmp_path, warmup=20, samples=20):
    folder = tmp_path / "theoph_fit"
    folder.mkdir()
    shutil.copy(DATA / "theoph" / "theoph_nonmem.csv", folder / "theoph.csv")
    (folder / "fit.toml").write_text(CONFIG.format(warmup=warmup, samples=samples))
    return folder


def test_fit_interrupted_then_resumed_writes_every_output(tmp_path, monkeypatch, capsys):
    folder = _folder(tmp_path)
    config = str(folder / "fit.toml")
    real_save = sampler._save_checkpoint

    def save_then_interrupt(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt  # Ctrl-C right after the first chunk's checkpoint

    monkeypatch.setattr(sampler, "_save_checkpoint", save_then_interrupt)
    assert main(["fit", config]) == 130  # one line, not a traceback
    assert "--resume" in capsys.readouterr().err
    out = folder / "out"
    assert (out / "checkpoint.npz").exists()
    assert not (out / "posterior.nc").exists()
    with np.load(out / "checkpoint.npz") as ck:
        assert int(ck["done"]) == 20  # warmup done, sampling not started
    monkeypatch.setattr(sampler, "_save_checkpoint", real_save)

    assert main(["fit", config, "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "NUTS sampling" in printed and "NUTS warmup" not in printed  # it only sampled
    for name in EXPECTED:
        path = out / name
        assert path.exists() and path.stat().st_size > 0, name
    assert not (out / "checkpoint.npz").exists()
    assert not list(out.glob(".*partial*"))
    for png in out.glob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"

    summary = pd.read_csv(out / "summary.csv", index_col=0)
    assert {"ka", "cl", "v", "omega_ka", "sigma_cp"} <= set(summary.index)
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 3 and len(run["config_sha256"]) == 64 and run["data_sha256"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "Population parameters" in html
    posterior = xr.open_dataset(out / "posterior.nc", group="posterior")
    resumed = posterior["ka"].values.copy()
    posterior.close()

    # The same run without the interruption gives the same draws, bit for bit.
    cfg = load_config(config)
    fit = cp.fit(**cfg.fit_kwargs)
    np.testing.assert_array_equal(fit.idata.posterior["ka"].values, resumed)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("chains = 2", "chains = \"two\""), "'method.chains' must be int"),
    (lambda t: t + "\n[extra]\nx = 1\n", "unknown key 'extra'"),
    (lambda t: t.replace("[method]", "[method]\nsamplez = 3"), "unknown key 'method.samplez'"),
    (lambda t: t.replace("theoph.csv", "missing.csv"), "does not exist"),
    (lambda t: t.replace('name = "pk_1cmt_oral"', ""), "exactly one of name"),
    (lambda t: t.replace("seed = 3", "seed = [3"), "not valid TOML"),
    (lambda t: t.replace("[method]", "[method]\nparameterization = \"centred\""),
     "'method.parameterization' = 'centred' is not one of"),
])
def test_wrong_configs_name_the_key_and_the_file(tmp_path, edit, message, capsys):
    folder = _folder(tmp_path)
    path = folder / "fit.toml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(ConfigError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert main(["fit", str(path)]) == 1
    assert message.split("'")[0] in capsys.readouterr().err


def test_bundled_analysis_configs_are_valid():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "fits"
    configs = sorted(root.glob("*/fit.toml"))
    assert {c.parent.name for c in configs} >= {"theophylline", "msc_ifna_phase1"}
    for config in configs:
        load_config(config)
