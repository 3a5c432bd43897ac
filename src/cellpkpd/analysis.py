"""`cellpkpd fit fits/<name>/fit.toml`: run the analysis a config describes and write its
``out/`` folder: the posterior, the tables, the figures and a self-contained report.

Everything is written atomically. NUTS checkpoints its state after every chunk of
iterations to ``out/checkpoint.npz``; ``resume=True`` continues an interrupted run from it
(bit for bit), otherwise a stale checkpoint is discarded. The checkpoint is removed once the
outputs are complete.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .config import AnalysisConfig, ConfigError, load_config
from .errors import OutputError

GRID_POINTS = 200


def run_analysis(config_path, *, resume: bool = False, progress: bool = True,
                 overrides: dict | None = None) -> Path:
    """Fit, then write ``out/``; returns the path of ``report.html``. ``overrides`` replace
    entries of the config's fit settings (e.g. fewer samples for a quick look)."""
    import cellpkpd as cp

    cfg = load_config(config_path)
    out = cfg.out_dir
    _check_writable(out, cfg)
    checkpoint = out / "checkpoint.npz"
    kwargs = {**cfg.fit_kwargs, **(overrides or {})}
    run_id = _run_identity(cfg, kwargs)
    data = _data(cfg, kwargs)
    if resume and checkpoint.exists():
        _check_resume(checkpoint, run_id, cfg)
    else:
        checkpoint.unlink(missing_ok=True)
        with atomic_path(_identity_path(checkpoint)) as tmp:
            tmp.write_text(json.dumps(run_id, indent=2) + "\n")
    started = time.perf_counter()
    say = print if progress else (lambda *a, **k: None)
    say(f"fitting {cfg.path} ({kwargs['method']}; model {kwargs['model']}, "
        f"{data.n_subjects} subjects)", flush=True)
    fit = cp.fit(**{**kwargs, "data": data}, progress=progress,
                 checkpoint=checkpoint if kwargs["method"] == "nuts" else None)
    elapsed = time.perf_counter() - started
    say(f"fit done in {elapsed:.0f} s; writing {out}", flush=True)
    try:
        return _write_outputs(fit, cfg, kwargs, out, elapsed, checkpoint)
    except OSError as err:
        # Every file is replaced atomically, so what was there before is still whole.
        raise OutputError(
            f"could not write the results to {out} ({err}); the previous outputs and the "
            f"checkpoint are unchanged: free space (or fix permissions) and run `cellpkpd fit "
            f"{cfg.path} --resume`") from None


def _write_outputs(fit, cfg, kwargs, out, elapsed, checkpoint) -> Path:
    fit.save(out)
    summary = fit.summary()
    diagnostics = fit.diagnostics()
    with atomic_path(out / "summary.csv") as tmp:
        summary.to_csv(tmp)
    with atomic_path(out / "diagnostics.txt") as tmp:
        tmp.write_text(str(diagnostics) + "\n")
    figures = write_figures(fit, cfg, out)
    report = write_analysis_report(fit, cfg, out, figures, summary, diagnostics, elapsed)
    with atomic_path(out / "run.json") as tmp:
        tmp.write_text(json.dumps(_run_record(fit, cfg, kwargs, elapsed), indent=2) + "\n")
    checkpoint.unlink(missing_ok=True)
    _identity_path(checkpoint).unlink(missing_ok=True)
    return report


#: What a resumed run must share with the run that wrote the checkpoint.
RESUME_KEYS = ("seed", "config_sha256", "data_sha256", "chains", "warmup", "samples")


def _identity_path(checkpoint: Path) -> Path:
    return checkpoint.with_name("checkpoint.json")


def _run_identity(cfg: AnalysisConfig, kwargs: dict) -> dict:
    """Seed, settings and the hashes of the config and data: what a checkpoint belongs to."""
    return {"seed": kwargs.get("seed", 0), "config_sha256": cfg.sha256,
            "data_sha256": _data_sha256(cfg),
            **{k: kwargs.get(k) for k in ("chains", "warmup", "samples")}}


def _check_resume(checkpoint: Path, run_id: dict, cfg: AnalysisConfig) -> None:
    """Refuse to continue chains that another seed, config, data or setting started, and
    say so for a damaged checkpoint, before anything compiles."""
    fresh = f"run `cellpkpd fit {cfg.path}` without --resume to start afresh"
    try:
        with np.load(checkpoint) as f:
            int(f["done"])
        saved = json.loads(_identity_path(checkpoint).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{checkpoint} has no record of the run that wrote it "
                          f"({_identity_path(checkpoint).name}); {fresh}") from None
    except Exception as err:  # a truncated zip, a missing array, bad JSON
        raise ConfigError(f"checkpoint {checkpoint} is damaged ({type(err).__name__}: {err}), "
                          f"e.g. by a crash while it was copied; {fresh}") from None
    differs = [f"{k}: checkpoint {saved.get(k)!r}, now {run_id[k]!r}" for k in RESUME_KEYS
               if saved.get(k) != run_id[k]]
    if differs:
        raise ConfigError(f"--resume: {checkpoint} was written by a different run ("
                          + "; ".join(differs) + f"); restore the original settings, or {fresh}")


def _check_writable(out: Path, cfg: AnalysisConfig) -> None:
    """``out/`` must be writable before minutes of fitting, not after."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"{cfg.path}: cannot write the results folder {out} ({err.strerror}); "
                          "make it writable, or copy the analysis folder somewhere "
                          "writable") from None


def _data(cfg: AnalysisConfig, kwargs: dict):
    """The data as `read_nonmem` reads them (what ``check-data`` reports), checked against
    the model, and restricted to the observed outputs the config lists."""
    import dataclasses

    from .events import to_model_units
    from .fitting.run import default_output_for
    from .loading import load_model
    from .nonmem import read_nonmem

    model = load_model(kwargs["model"])
    _check_report(cfg, model)
    dataset = read_nonmem(kwargs["data"], dvid_map=kwargs.get("dvid"),
                          outputs=model.output_names,
                          default_output=default_output_for(model, kwargs.get("error")),
                          dose_unit=cfg.raw["data"].get("dose_unit"))
    # AMT in each dosing compartment's unit from here on (the fit's saved data.csv too).
    dataset = to_model_units(model, dataset)
    kwargs["dvid"] = None  # applied: the dataset's DVIDs are output names or numbers now
    if not cfg.outputs:
        return dataset
    if "DVID" not in dataset.items:
        raise ConfigError(f"{cfg.path}: data.outputs lists {cfg.outputs}, but "
                          f"{kwargs['data']} has no DVID column to say which output each "
                          "observation measures; add a DVID column, or drop data.outputs")
    unknown = sorted(set(cfg.outputs) - set(model.output_names))
    if unknown:
        raise ConfigError(f"{cfg.path}: data.outputs names {unknown}, which are not outputs "
                          f"of model {model.name!r}; its outputs are {list(model.output_names)}")
    table = dataset.table
    names = table["DVID"].map(lambda v: _output_name(v, model.output_names))
    never = sorted(set(cfg.outputs) - set(names.dropna()))
    if never:
        raise ConfigError(f"{cfg.path}: data.outputs names {never}, which no DVID in "
                          f"{kwargs['data']} observes")
    keep = (table["EVID"] != 0).to_numpy() | names.isin(cfg.outputs).to_numpy()
    return dataclasses.replace(dataset, table=table[keep].reset_index(drop=True))


def _output_name(dvid_value, output_names):
    """The output a (validated) DVID names: a name, or a 1-based output number."""
    if isinstance(dvid_value, str):
        return dvid_value
    if pd.isna(dvid_value):
        return None
    return output_names[int(dvid_value) - 1]


def _check_report(cfg: AnalysisConfig, model) -> None:
    """[report] settings, checked before the fit rather than after it."""
    n_rep = cfg.report.get("vpc_replicates", 100)
    if n_rep < 1:
        raise ConfigError(f"{cfg.path}: 'report.vpc_replicates' = {n_rep} must be >= 1 "
                          "(100 is typical)")
    unknown = sorted(set(cfg.report.get("log_outputs", [])) - set(model.output_names))
    if unknown:
        raise ConfigError(f"{cfg.path}: 'report.log_outputs' names {unknown}, which are not "
                          f"outputs of model {model.name!r}; its outputs are "
                          f"{list(model.output_names)}")


def write_figures(fit, cfg: AnalysisConfig, out: Path) -> dict:
    """PNG figures per observed output (GOF, individual fits, VPC) and the MCMC trace/rank
    plot; returns {key: path}."""
    from .fitting.replicates import simulate_replicates
    from .report import (
        gof_figure,
        individual_figure,
        save_figure,
        trace_rank_figure,
        vpc_figure,
        vpc_stats,
    )

    model = fit._record.model
    pred = fit.predict()
    units = {o.name: o.unit for o in model.outputs}
    error_kinds = fit.provenance["options"]["error"]
    log_outputs = set(cfg.report.get("log_outputs",
                                     [o for o, k in error_kinds.items() if k == "lognormal"]))
    n_rep = int(cfg.report.get("vpc_replicates", 100))
    seed = int(cfg.fit_kwargs.get("seed", 0))
    sims = simulate_replicates(fit, n=n_rep, seed=seed)
    curves = individual_curves(fit)
    paths = {}
    for output in dict.fromkeys(pred.output):
        rows = (pred.output == output).to_numpy()
        kw = dict(unit=units[output], time_unit=model.time_unit, log=output in log_outputs)
        paths[f"gof_{output}"] = save_figure(
            gof_figure(pred, output, replicates=sims, seed=seed, **kw), out / f"gof_{output}.png")
        paths[f"individual_{output}"] = save_figure(
            individual_figure(pred, curves, output, **kw), out / f"individual_{output}.png")
        sub = pred[rows]
        stats = vpc_stats(sub.TIME.to_numpy(), sub.DV.to_numpy(), sub.BLQ.to_numpy() == 1,
                          None, sims[:, rows], lloq=sub.LLOQ.to_numpy())
        paths[f"vpc_{output}"] = save_figure(
            vpc_figure(stats, output=output, obs=sub[["TIME", "DV", "BLQ", "LLOQ"]], **kw),
            out / f"vpc_{output}.png")
    if fit.method == "nuts":
        names = [n for n in fit.population_names if not n.startswith("corr_")]
        paths["trace_rank"] = save_figure(trace_rank_figure(fit.idata, names),
                                          out / "trace_rank.png")
    return paths


def individual_curves(fit) -> pd.DataFrame:
    """IPRED (posterior-median individual parameters) and PRED (posterior-median typical
    values, no covariate effects) on a dense grid, per subject and observed output."""
    import cellpkpd as cp

    record = fit._record
    model, dataset = record.model, record.dataset
    table = dataset.table
    grid = np.linspace(float(table.TIME.min()), float(table.TIME.max()), GRID_POINTS)
    ind = fit.individual()["median"].unstack("parameter")
    ind = ind.reindex(list(dataset.subjects))
    ipred = cp.simulate(model, dataset, {p: ind[p].to_numpy() for p in ind.columns},
                        times=grid, solver=record.prob.solver)
    typical = {n: float(fit.idata.posterior[n].median()) for n in record.spec.estimated_names}
    fixed = record.options.get("fixed") or {}
    pred = cp.simulate(model, dataset, {**fixed, **typical}, times=grid,
                       solver=record.prob.solver)
    frames = []
    for output in dict.fromkeys(record.obs.output_names):
        a = ipred[output].to_dataframe().reset_index().rename(columns={output: "IPRED"})
        b = pred[output].to_dataframe().reset_index().rename(columns={output: "PRED"})
        f = a.merge(b, on=["id", "time"]).rename(columns={"id": "ID", "time": "TIME"})
        f["output"] = output
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def write_analysis_report(fit, cfg, out, figures, summary, diagnostics, elapsed) -> Path:
    from .report import Pre, Section, write_report

    record = fit._record
    post = fit.idata.posterior
    overview = (f"Model {record.model.name} (time unit: {record.model.time_unit}); data "
                f"{cfg.fit_kwargs['data'].name}: {len(record.dataset.subjects)} subjects, "
                f"{len(record.obs.dv)} observations ({int(record.obs.censored.sum())} BLQ, "
                f"M3 likelihood). Method {fit.method}: {post.sizes['chain']} chain(s) x "
                f"{post.sizes['draw']} draws; {elapsed:.0f} s.")
    sections = [
        Section("Overview", [overview, Pre(str(diagnostics))]),
        Section("Population parameters", [summary.reset_index()]),
    ]
    for output in dict.fromkeys(record.obs.output_names):
        items = [figures[k] for k in (f"gof_{output}", f"individual_{output}", f"vpc_{output}")]
        sections.append(Section(f"{output}", items))
    if "trace_rank" in figures:
        sections.append(Section("MCMC trace and rank plots", [figures["trace_rank"]]))
    sections.append(Section("Configuration", [Pre(cfg.path.read_text())]))
    return write_report(out / "report.html", title=f"cellpkpd fit: {cfg.folder.name}",
                        subtitle=str(cfg.path), sections=sections)


def _data_sha256(cfg: AnalysisConfig) -> str:
    """The hash of the data file as it is on disk (the checkpoint and run.json share it)."""
    return hashlib.sha256(Path(cfg.fit_kwargs["data"]).read_bytes()).hexdigest()


def _run_record(fit, cfg, kwargs, elapsed) -> dict:
    return {
        "config": str(cfg.path), "config_sha256": cfg.sha256,
        "data": str(cfg.fit_kwargs["data"]),
        "data_sha256": _data_sha256(cfg),
        "seed": kwargs.get("seed", 0), "method": kwargs["method"],
        "git_commit": _git_commit(cfg.folder), "elapsed_s": round(elapsed, 1),
        "python": platform.python_version(),
        "versions": fit.provenance.get("versions", {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _git_commit(folder: Path) -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
