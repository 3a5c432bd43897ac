"""Nothing wrong is accepted silently (issue 20): each defect found is an error naming its row,
column or setting, or is read correctly. No test here compiles a model."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cellpkpd as cp
from cellpkpd.cli import main

ROOT = Path(__file__).resolve().parents[1]
THEOPH = ROOT / "fits" / "theophylline" / "theoph_nonmem.csv"
MSC = ROOT / "fits" / "msc_ifna_phase1" / "data.csv"
HEAD = "ID,TIME,AMT,EVID,CMT,DV,MDV,WT"


def read(text: str, **kw):
    return cp.read_nonmem(io.StringIO(text), **kw)


def problems(text: str | bytes, **kw) -> str:
    source = io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text)
    with pytest.raises(cp.DataError) as err:
        cp.read_nonmem(source, **kw)
    return str(err.value)


# -- observations attributed to the wrong output -------------------------------------------

OUTPUTS = ("cp", "effect")
TWO_OBS = "ID,TIME,AMT,DV,DVID\n1,0,100,.,.\n1,1,0,3.1,{}\n"


def test_fractional_dvid_is_an_error():
    text = problems(TWO_OBS.format("1.5"))
    assert "row 2, column DVID" in text and "not a whole number" in text


def test_no_dvid_with_several_outputs_is_an_error_naming_rows():
    text = problems("ID,TIME,AMT,DV\n1,0,100,.\n1,1,0,3.1\n1,2,0,2.0\n", outputs=OUTPUTS)
    assert "row 2, column DVID" in text and "row 3, column DVID" in text
    assert "2 outputs" in text


def test_no_dvid_is_fine_with_one_output_or_a_named_default():
    text = "ID,TIME,AMT,DV\n1,0,100,.\n1,1,0,3.1\n"
    assert read(text, outputs=("cp",)).n_subjects == 1
    assert read(text, outputs=OUTPUTS, default_output="effect").n_subjects == 1


def test_a_validated_dataset_is_checked_against_outputs_with_its_rows():
    data = read("ID,TIME,AMT,DV\n1,0,100,.\n# note\n1,1,0,3.1\n")
    with pytest.raises(cp.DataError, match="row 3, column DVID"):
        cp.read_nonmem(data, outputs=OUTPUTS)


def test_fit_refuses_several_outputs_without_dvid_before_compiling():
    from cellpkpd.fitting.run import prepare

    data = pd.read_csv(MSC, na_values=["."]).drop(columns=["DVID"])
    with pytest.raises(cp.DataError, match="has no DVID"):
        prepare("msc_ifna", data)


def test_check_data_with_a_model_catches_missing_and_fractional_dvid(tmp_path, capsys):
    no_dvid = tmp_path / "no_dvid.csv"
    pd.read_csv(MSC, dtype=str, keep_default_na=False).drop(columns=["DVID"]).to_csv(
        no_dvid, index=False)
    assert main(["check-data", str(no_dvid), "--model", "msc_ifna"]) == 1
    assert "has no DVID" in capsys.readouterr().out
    frac = tmp_path / "frac.csv"
    frac.write_text("ID,TIME,AMT,CMT,DV,DVID\n1,0,100,1,.,.\n1,1,0,.,3.1,1.5\n")
    assert main(["check-data", str(frac), "--model", "pk_1cmt_oral"]) == 1
    assert "not a whole number" in capsys.readouterr().out
    assert main(["check-data", str(THEOPH), "--model", "pk_1cmt_oral"]) == 0


# -- invalid tables -----------------------------------------------------------------------

@pytest.mark.parametrize("header, message", [
    ("ID,TIME,AMT,AMT", "appear more than once"),
    ("ID,TIME,,AMT", "column 3 of the header has no name"),
])
def test_bad_headers(header, message):
    assert message in problems(f"{header}\n1,0,1,1\n")


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e400", "-inf"])
def test_non_finite_covariates_are_errors(value):
    text = problems(f"{HEAD}\n1,0,100,1,1,.,1,{value}\n")
    assert "row 1, column WT" in text and "not finite" in text


def test_amt_on_an_observation_row_is_an_error():
    text = problems(f"{HEAD}\n1,0,100,1,1,.,1,70\n1,1,5,0,2,3.1,0,70\n")
    assert "row 2, column AMT" in text and "NM-TRAN" in text


@pytest.mark.parametrize("amt, message", [("1.8e308", "not finite"), ("1e300", "beyond")])
def test_absurd_amounts_are_errors(amt, message):
    text = problems(f"{HEAD}\n1,0,{amt},1,1,.,1,70\n")
    assert "row 1, column AMT" in text and message in text


def test_comment_rows_without_a_c_column():
    data = read(f"{HEAD}\n1,0,100,1,1,.,1,70\n# note\n@ other\n1,1,0,0,2,3.1,0,70\n")
    assert list(data.table.ROW) == [1, 4]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-8-sig"])
def test_encodings(encoding):
    text = "ID,TIME,AMT,DV,SITE\n1,0,100,.,Zürich\n1,1,0,3.1,Zürich\n"
    data = cp.read_nonmem(io.BytesIO(text.encode(encoding)))
    assert data.encodings["SITE"] == {"Zürich": 0}


def test_a_bom_only_file_is_empty():
    assert "empty" in problems(b"\xef\xbb\xbf")


def test_semicolons_name_the_separator():
    assert "';'" in problems("ID;TIME;AMT\n1;0;100\n")


def test_trailing_comma_reads_the_same():
    plain = read(f"{HEAD}\n1,0,100,1,1,.,1,70\n1,1,0,0,2,3.1,0,70\n")
    trailing = read(f"{HEAD}\n1,0,100,1,1,.,1,70,\n1,1,0,0,2,3.1,0,70,\n")
    assert plain.equals(trailing)


def test_extra_fields_are_an_error():
    assert "more fields than the header" in problems("ID,TIME,AMT\n1,0,100,7\n1,1,0\n")


def test_leading_blank_lines_are_skipped():
    assert read(f"\n\n{HEAD}\n1,0,100,1,1,.,1,70\n").n_subjects == 1


def test_a_column_typo_is_named():
    text = problems("ID,TIME,AMNT,DV\n1,0,100,.\n1,1,0,3.1\n")
    assert "did you mean AMT?" in text and "column AMNT" in text
    assert len(text.splitlines()) == 2  # one problem, not one per dose


def test_lower_case_whitespace_tables_read():
    data = read("id time amt dv\n1 0 100 .\n1 1 0 3.1\n")
    assert data.n_subjects == 1 and len(data.observations) == 1


def test_a_directory_is_not_a_table(tmp_path):
    assert "is a directory" in str(pytest.raises(cp.DataError, cp.read_nonmem, tmp_path).value)


@pytest.mark.parametrize("column, value", [("WT", 0.0), ("HT", -170.0)])
def test_body_size_is_named(column, value):
    subjects = pd.DataFrame({"ID": [1, 2], "WT": [70.0, 80.0], "HT": [170.0, 180.0]})
    subjects.loc[1, column] = value
    reg = cp.regimen(cp.Dose(125.0, "mg/m2", "central"))
    with pytest.raises(cp.DataError) as err:
        reg.to_dataset(subjects, [1.0])
    assert f"column {column}" in str(err.value) and "subject 2" in str(err.value)


def test_simulation_tables_need_no_dv_but_fits_do():
    text = "ID,TIME,AMT,EVID,MDV,DV\n1,0,100,1,1,.\n1,1,0,0,0,.\n"
    assert read(text, dv_required=False).n_subjects == 1
    assert "row 2, column DV" in problems(text)


# -- parameters and settings ---------------------------------------------------------------

@pytest.mark.parametrize("value", ["abc", 1 + 2j, True, [True, False]])
def test_bad_parameter_values(value):
    from cellpkpd.params import parameter_matrix

    model = cp.load_model("pk_1cmt_oral")
    with pytest.raises(cp.ParameterError, match="'cl'"):
        parameter_matrix(model, {"cl": value}, (1, 2))


def test_chunk_size_must_be_positive():
    with pytest.raises(cp.ParameterError, match="chunk_size"):
        cp.simulate("pk_1cmt_oral", THEOPH, chunk_size=0)


@pytest.mark.parametrize("options, message", [
    ({"seed": -1}, "seed"),
    ({"target_accept": 1.5}, "target_accept"),
    ({"dvid": {1: "nope"}}, "not an output"),
])
def test_fit_settings_checked_before_compiling(options, message):
    with pytest.raises(cp.ParameterError, match=message):
        cp.fit("pk_1cmt_oral", THEOPH, **options)


def _config(tmp_path, data_line='path = "data.csv"', extra=""):
    (tmp_path / "data.csv").write_text(THEOPH.read_text())
    path = tmp_path / "fit.toml"
    path.write_text(f'[model]\nname = "pk_1cmt_oral"\n[data]\n{data_line}\n{extra}')
    return path


@pytest.mark.parametrize("data_line, extra, message", [
    ('path = "data.csv"\ndvid = { a = "cp" }', "", "not a DVID number"),
    ('path = "."', "", "is a directory"),
    ('path = "data.csv"', "seed = 0\n[method]\ntarget_accept = 1.2\n", "target_accept"),
])
def test_config_errors(tmp_path, data_line, extra, message):
    from cellpkpd.config import ConfigError, load_config

    extra = extra.replace("seed = 0\n", "")
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, data_line, extra))


@pytest.mark.parametrize("data_line, extra, message", [
    ('path = "data.csv"\noutputs = ["cp"]', "", "no DVID column"),
    ('path = "data.csv"', "[report]\nvpc_replicates = 0\n", "vpc_replicates"),
    ('path = "data.csv"', "[report]\nlog_outputs = [\"cq\"]\n", "log_outputs"),
])
def test_analysis_errors_before_fitting(tmp_path, data_line, extra, message, monkeypatch):
    from cellpkpd.analysis import run_analysis
    from cellpkpd.config import ConfigError

    def no_fit(*a, **k):
        raise AssertionError("the fit started")

    monkeypatch.setattr(cp, "fit", no_fit)
    with pytest.raises(ConfigError, match=message):
        run_analysis(_config(tmp_path, data_line, extra), progress=False)


def test_analysis_reads_with_read_nonmem(tmp_path, monkeypatch):
    """A lower-case, whitespace-separated table reads in the fit as in check-data."""
    from cellpkpd.analysis import run_analysis

    frame = pd.read_csv(THEOPH, dtype=str, keep_default_na=False)
    frame.columns = [c.lower() for c in frame.columns]
    text = " ".join(frame.columns) + "\n" + "\n".join(" ".join(r) for r in frame.to_numpy())
    path = _config(tmp_path)
    (tmp_path / "data.csv").write_text(text + "\n")
    seen = {}

    def fake_fit(**kwargs):
        seen["data"] = kwargs["data"]
        raise KeyboardInterrupt

    monkeypatch.setattr(cp, "fit", fake_fit)
    with pytest.raises(KeyboardInterrupt):
        run_analysis(path, progress=False)
    assert seen["data"].equals(cp.read_nonmem(THEOPH))


def test_unwritable_out_is_an_error_before_fitting(tmp_path, monkeypatch):
    from cellpkpd.analysis import run_analysis
    from cellpkpd.config import ConfigError

    path = _config(tmp_path)
    (tmp_path / "out").write_text("a file where the folder should be")
    monkeypatch.setattr(cp, "fit", lambda **k: pytest.fail("the fit started"))
    with pytest.raises(ConfigError, match="cannot write the results folder"):
        run_analysis(path, progress=False)


def test_ctrl_c_prints_one_line(tmp_path, monkeypatch, capsys):
    path = _config(tmp_path)

    def interrupt(**kwargs):
        np.savez(tmp_path / "out" / "checkpoint.npz", done=np.asarray(75))
        raise KeyboardInterrupt

    monkeypatch.setattr(cp, "fit", interrupt)
    assert main(["fit", str(path), "--quiet"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "75 NUTS iterations saved" in err[0] and "--resume" in err[0]


# -- resume and interrupted writes ---------------------------------------------------------

def _interrupted_run(tmp_path, monkeypatch):
    """A run that saved a checkpoint and was then interrupted (no real sampling)."""
    from cellpkpd.analysis import run_analysis

    path = _config(tmp_path)

    def interrupt(**kwargs):
        np.savez(kwargs["checkpoint"], done=np.asarray(20))
        raise KeyboardInterrupt

    monkeypatch.setattr(cp, "fit", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_analysis(path, progress=False)
    return path


def test_resume_with_another_seed_is_refused_saying_what_differs(tmp_path, monkeypatch):
    from cellpkpd.analysis import run_analysis
    from cellpkpd.config import ConfigError

    path = _interrupted_run(tmp_path, monkeypatch)
    path.write_text("seed = 5\n" + path.read_text())
    with pytest.raises(ConfigError, match=r"seed: checkpoint 0, now 5") as err:
        run_analysis(path, resume=True, progress=False)
    assert "config_sha256" in str(err.value)
    with pytest.raises(ConfigError, match=r"samples: checkpoint None, now 10"):
        path.write_text(path.read_text().replace("seed = 5\n", ""))
        run_analysis(path, resume=True, progress=False, overrides={"samples": 10})


def test_a_truncated_checkpoint_is_called_damaged(tmp_path, monkeypatch):
    from cellpkpd.analysis import run_analysis
    from cellpkpd.config import ConfigError

    path = _interrupted_run(tmp_path, monkeypatch)
    checkpoint = tmp_path / "out" / "checkpoint.npz"
    checkpoint.write_bytes(checkpoint.read_bytes()[:40])
    with pytest.raises(ConfigError, match="is damaged.*without --resume"):
        run_analysis(path, resume=True, progress=False)


def test_a_failed_write_leaves_previous_outputs_and_the_checkpoint(tmp_path, monkeypatch):
    import errno

    from cellpkpd.analysis import run_analysis
    from cellpkpd.errors import OutputError

    path = _config(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "posterior.nc").write_bytes(b"previous")

    class DiskFull:
        def save(self, directory):
            np.savez(out / "checkpoint.npz", done=np.asarray(40))
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cp, "fit", lambda **k: DiskFull())
    with pytest.raises(OutputError, match="No space left.*--resume"):
        run_analysis(path, progress=False)
    assert (out / "posterior.nc").read_bytes() == b"previous"
    assert (out / "checkpoint.npz").exists() and (out / "checkpoint.json").exists()
