"""The `cellpkpd` command line."""

from __future__ import annotations

import argparse
import inspect
import math
import sys
from pathlib import Path

import numpy as np

from .atomic import atomic_path

OUT_SUFFIXES = (".nc", ".csv")
DOSE_SYNTAX = ("'AMOUNT UNIT CMT [at TIME] [every INTERVAL x COUNT] [over DURATION | rate RATE]"
               " [in AMOUNT_UNIT]', e.g. '2e6 cells/kg msc_blood every 28 x 4 over 0.0208'")
# The words of a dose spec after AMOUNT UNIT CMT, each followed by one value.
DOSE_WORDS = {"at": "time", "every": "every", "x": "count", "over": "duration", "rate": "rate",
              "in": "amount_unit"}


REGIMEN_HELP = """\
--regimen SPEC is one of
  a protocol regimen, NAME[:KEY=VALUE,...]:
      msc_ifna_monotherapy:dose=2e6,infusions=2,interval=35
      msc_ifna_combination:dose=6e5,cycles=12
      nkg2d_carnk:dose=1e9
  a dose, AMOUNT UNIT CMT [at TIME] [every INTERVAL x COUNT] [over DURATION | rate RATE]
          [in AMOUNT_UNIT]:
      "2e6 cells/kg msc_blood every 28 x 4 over 0.0208"
      "125 mg/m2 pac_central at -5 over 0.0208"
UNIT is cells, 1e6 cells, mg, ug, ... optionally per kg (scaled by WT) or per m2 (by BSA, or
by Mosteller's sqrt(WT*HT/3600) from WT [kg] and HT [cm]). It is checked against the unit the
compartment declares: a mass is converted (mg into a compartment in ug is x 1000), cells into a
mass compartment is an error. 'in AMOUNT_UNIT' is not needed. CMT is a state name or number. Times,
intervals and durations are in the model's time unit. Several --regimen options add up.
Covariates missing for a per-kg or per-m2 dose come from the model's defaults when it has them.
"""


def _usage_error(message: str) -> SystemExit:
    """A command-line mistake: the message on stderr, exit status 1, no traceback."""
    return SystemExit(f"error: {message}")


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _usage_error(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise _usage_error(f"{what}: {text!r} is not a finite number")
    return value


def _parse_params(items: list[str]) -> dict[str, float]:
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: --param takes NAME=VALUE, got {item!r}")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"error: --param {name}: {value!r} is not a number") from None
    return params


def _parse_times(text: str | None):
    if text is None:
        return None
    fix = "write 'a,b,c' or 'start:stop:step'"
    if ":" in text:  # start:stop:step
        parts = text.split(":")
        if len(parts) != 3:
            raise _usage_error(f"--times {text!r}: {fix}")
        start, stop, step = (_number(x, f"--times {text!r}") for x in parts)
        if step <= 0 or stop < start:
            raise _usage_error(f"--times {text!r}: needs step > 0 and stop >= start; {fix}")
        return np.arange(start, stop + step / 2, step)
    return np.array([_number(x, f"--times {text!r} ({fix})") for x in text.split(",")])


# -- regimens ---------------------------------------------------------------------------------

def protocol_regimens() -> dict:
    """The protocol regimens ``--regimen NAME[:KEY=VALUE,...]`` knows, by name."""
    from . import regimens

    return {f.__name__: f for f in (regimens.msc_ifna_monotherapy,
                                    regimens.msc_ifna_combination, regimens.nkg2d_carnk)}


def parse_regimen(spec: str):
    """A `Regimen` from one ``--regimen`` value: a protocol regimen ``NAME[:KEY=VALUE,...]``
    or one dose ``AMOUNT UNIT CMT [at T] [every II x N] [over DUR | rate R] [in UNIT]``."""
    words = spec.split()
    if not words:
        raise _usage_error(f"--regimen is empty; give a protocol regimen name or {DOSE_SYNTAX}")
    try:
        float(words[0])
    except ValueError:
        return _protocol_regimen(spec)
    return _dose_regimen(spec, words)


def _protocol_regimen(spec: str):
    name, _, options = (part.strip() for part in spec.partition(":"))
    builders = protocol_regimens()
    if name not in builders:
        raise _usage_error(
            f"--regimen {spec!r}: {name!r} is not a known regimen; use one of "
            f"{sorted(builders)} (options as NAME:KEY=VALUE,...), or a dose {DOSE_SYNTAX}")
    builder = builders[name]
    signature = inspect.signature(builder).parameters
    kwargs = {}
    for item in filter(None, (x.strip() for x in options.split(","))):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise _usage_error(f"--regimen {spec!r}: option {item!r} is not KEY=VALUE; write "
                               f"e.g. {name}:{next(iter(signature))}=...")
        if key not in signature:
            raise _usage_error(f"--regimen {spec!r}: {name} has no option {key!r}; its options "
                               f"are {list(signature)}")
        kwargs[key] = _option_value(spec, key, value, signature[key].default)
    missing = [k for k, p in signature.items() if p.default is p.empty and k not in kwargs]
    if missing:
        raise _usage_error(f"--regimen {spec!r}: {name} needs {', '.join(missing)}; write e.g. "
                           f"{name}:{missing[0]}=...")
    try:
        return builder(**kwargs)
    except ValueError as err:
        raise _usage_error(f"--regimen {spec!r}: {err}") from None


def _option_value(spec: str, key: str, text: str, default):
    """``text`` as the type of the builder's default (a number when it has none)."""
    what = f"--regimen {spec!r}: option {key}"
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise _usage_error(f"{what}: {text!r} is not true or false")
        return text.lower() in ("true", "yes", "1")
    if isinstance(default, str):
        return text
    value = _number(text, what)
    if isinstance(default, int):
        if not value.is_integer():
            raise _usage_error(f"{what}: {text!r} is not a whole number")
        return int(value)
    return value


def _dose_regimen(spec: str, words: list[str]):
    from .regimens import Dose, regimen

    if len(words) < 3:
        raise _usage_error(f"--regimen {spec!r}: a dose needs AMOUNT UNIT CMT; write {DOSE_SYNTAX}")
    amount, unit, cmt = words[:3]
    fields = {"amount": _number(amount, f"--regimen {spec!r}: amount"), "unit": unit,
              "cmt": int(cmt) if cmt.isdigit() else cmt}
    rest = words[3:]
    for i in range(0, len(rest), 2):
        word = rest[i]
        if word not in DOSE_WORDS:
            raise _usage_error(f"--regimen {spec!r}: {word!r} is not one of {list(DOSE_WORDS)};"
                               f" write {DOSE_SYNTAX}")
        if i + 1 == len(rest):
            raise _usage_error(f"--regimen {spec!r}: {word!r} needs a value after it")
        name = DOSE_WORDS[word]
        if name in fields:
            raise _usage_error(f"--regimen {spec!r}: {word!r} is given twice")
        value = rest[i + 1]
        if name == "amount_unit":
            fields[name] = value
        elif name == "count":
            count = _number(value, f"--regimen {spec!r}: x (count)")
            if not count.is_integer():
                raise _usage_error(f"--regimen {spec!r}: x (count) {value!r} is not a whole number")
            fields[name] = int(count)
        else:
            fields[name] = _number(value, f"--regimen {spec!r}: {word}")
    if "every" in fields and "count" not in fields:
        raise _usage_error(f"--regimen {spec!r}: 'every' needs 'x COUNT', the number of doses "
                           "(e.g. every 28 x 4)")
    if fields["amount"] <= 0:
        raise _usage_error(f"--regimen {spec!r}: the amount must be > 0, got {amount}")
    try:
        return regimen(Dose(**fields), name=spec)
    except ValueError as err:
        raise _usage_error(f"--regimen {spec!r}: {err}") from None


def _check_compartments(model, spec: str, reg) -> None:
    from .errors import UnitError

    states = model.state_names
    for dose in reg.doses:
        cmt = dose.cmt
        known = cmt in states if isinstance(cmt, str) else 1 <= cmt <= len(states)
        if not known:
            raise _usage_error(
                f"--regimen {spec!r}: compartment {cmt!r} is not a state of model "
                f"{model.name!r}; use one of {list(states)} or a number 1-{len(states)}")
        try:
            dose.factor(model)  # the dose's unit against the compartment's
        except UnitError as err:
            raise _usage_error(f"--regimen {spec!r}: {err}") from None


def _parse_covariates(items: list[str]) -> dict[str, float]:
    covs = {}
    for item in items:
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not name:
            raise _usage_error(f"--cov takes NAME=VALUE, e.g. --cov WT=70; got {item!r}")
        covs[name] = _number(value, f"--cov {name}")
    return covs


def regimen_subjects(model, reg, covariates: dict, n_subjects: int = 1, table=None):
    """The subjects' covariate table for ``reg``, and notes on the model defaults it used.

    One row per subject: ``table`` (a covariate CSV as a DataFrame) or ``n_subjects`` alike
    subjects, plus every ``covariates`` value for all of them. A dose per kg needs WT, one per
    m² needs BSA or WT [kg] and HT [cm] (Mosteller). What is missing comes from the model's
    covariate defaults when it declares them (WT and HT before BSA, as the model derives BSA
    from them); otherwise it is an error naming the ``--cov`` to give.
    """
    import pandas as pd

    from .dose_units import parse_dose_unit

    if table is None:
        if n_subjects < 1:
            raise _usage_error(f"--subjects must be >= 1, got {n_subjects}")
        subjects = pd.DataFrame({"ID": np.arange(1, n_subjects + 1)})
    else:
        subjects = pd.DataFrame(table).reset_index(drop=True)
        if subjects.empty:
            raise _usage_error("--covariates: the file has no subject rows; give one row per "
                               "subject")
    for name, value in covariates.items():
        if name in subjects:
            raise _usage_error(f"--cov {name}: the --covariates file already has a {name} "
                               "column; give it in one place only")
        subjects[name] = value

    defaults = {c.name: c for c in model.covariates if math.isfinite(c.default)}
    notes = []

    def from_default(name: str) -> None:
        cov = defaults[name]
        subjects[name] = cov.default
        notes.append(f"{name} not given: using the default of model {model.name!r}, "
                     f"{cov.default:g} {cov.unit}".rstrip())

    per = {parse_dose_unit(d.unit).per for d in reg.doses}
    scaled_by = []  # the covariates the dose amounts are computed from
    if "WT" in per:
        if "WT" not in subjects:
            if "WT" not in defaults:
                raise _usage_error(
                    f"a dose per kg needs each subject's body weight WT [kg], and model "
                    f"{model.name!r} has no default WT: give --cov WT=VALUE, or a WT column in "
                    "--covariates FILE")
            from_default("WT")
        scaled_by.append("WT")
    if "BSA" in per:
        missing = [n for n in ("WT", "HT") if n not in subjects]
        if "BSA" in subjects:
            scaled_by.append("BSA")
        elif all(n in defaults for n in missing):
            for name in missing:
                from_default(name)
            scaled_by += ["WT", "HT"]
        elif len(missing) == 2 and "BSA" in defaults:
            from_default("BSA")
            scaled_by.append("BSA")
        else:
            raise _usage_error(
                f"a dose per m² needs each subject's BSA [m²], or WT [kg] and HT [cm] "
                f"(Mosteller), and model {model.name!r} has no default "
                f"{' or '.join(missing)}: give --cov BSA=VALUE, or "
                + " ".join(f"--cov {n}=VALUE" for n in missing)
                + ", or the column(s) in --covariates FILE")
    for name in dict.fromkeys(scaled_by):
        _check_positive(subjects, name)
    return subjects, notes


def _check_positive(subjects, name: str) -> None:
    import pandas as pd

    values = pd.to_numeric(subjects[name], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if bad.size:
        raise _usage_error(
            f"covariate {name} must be a number > 0 for every subject a dose is scaled for; "
            f"subject row(s) {[int(i) + 1 for i in bad[:10]]} have "
            f"{list(subjects[name].iloc[bad[:10]])}")


def regimen_dataset(model, specs: list[str], args):
    """The NONMEM dataset the ``--regimen`` options, ``--cov``/``--subjects``/``--covariates``
    and ``--times`` describe, and the notes on covariate defaults used."""
    import pandas as pd

    from .regimens import population_table

    parsed = [parse_regimen(spec) for spec in specs]
    for spec, reg in zip(specs, parsed, strict=True):
        _check_compartments(model, spec, reg)
    reg = parsed[0]
    for more in parsed[1:]:
        reg = reg + more
    table = None
    if args.covariates:
        if args.subjects is not None:
            raise _usage_error("--subjects and --covariates both say how many subjects; the "
                               "--covariates file has one row per subject, so drop --subjects")
        table = pd.read_csv(args.covariates)
    subjects, notes = regimen_subjects(model, reg, _parse_covariates(args.cov),
                                       1 if args.subjects is None else args.subjects, table)
    return population_table(reg, subjects, [], model=model), notes


# -- commands ---------------------------------------------------------------------------------

def cmd_simulate(args) -> int:
    import cellpkpd as cp

    out = Path(args.out)
    if out.suffix not in OUT_SUFFIXES:
        raise _usage_error(f"--out {args.out!r}: the file must end in .nc (NetCDF) or .csv")
    times = _parse_times(args.times)
    if args.regimen:
        if times is None:
            raise _usage_error("--regimen needs --times: the output times in the model's time "
                               "unit, e.g. --times 0:28:0.5 or --times 0,1,7,14")
        model = cp.load_model(args.model)
        dataset, notes = regimen_dataset(model, args.regimen, args)
        for note in notes:
            print(f"note: {note}")
    else:
        for option in ("cov", "subjects", "covariates"):
            if getattr(args, option) not in (None, []):
                raise _usage_error(f"--{option} goes with --regimen; a --data table carries its "
                                   "own covariates")
        model = args.model
        dataset = cp.read_nonmem(args.data, dv_required=False)
    sim = cp.simulate(model, dataset, _parse_params(args.param), times=times,
                      states=args.states)
    if args.regimen:
        sim.attrs["regimen"] = " + ".join(args.regimen)
    with atomic_path(out) as tmp:
        if out.suffix == ".nc":
            sim.to_netcdf(tmp)
        else:
            sim.to_dataframe().reset_index().to_csv(tmp, index=False)
    print(f"wrote {out} ({sim.sizes['id']} subjects x {sim.sizes['time']} times; outputs "
          f"{[v for v in sim.data_vars]}; time in {sim.attrs['time_unit']})")
    if args.plot:
        from .plots import plot_individuals

        path = plot_individuals(sim, dataset, args.plot)
        print(f"wrote {path}")
    return 0


def cmd_check_data(args) -> int:
    import cellpkpd as cp

    simulation = args.purpose == "simulate"
    try:
        if simulation:
            # What `cellpkpd simulate --data` reads: output rows may have DV '.'; an
            # observation without DVID goes to the model's first output.
            data = cp.read_nonmem(args.file, dv_required=False, dose_unit=args.dose_unit)
            if args.model:
                # times=[0.0]: `simulate --times` may give the output times.
                cp.problem(cp.load_model(args.model), data, times=[0.0])
        elif args.model:
            # What the fit checks: each observation's output (DVID), then the records
            # against the model's compartments.
            from .fitting.run import default_output_for

            model = cp.load_model(args.model)
            data = cp.read_nonmem(args.file, outputs=model.output_names,
                                  default_output=default_output_for(model, None),
                                  dose_unit=args.dose_unit)
            cp.problem(model, data, times=[0.0])
        else:
            data = cp.read_nonmem(args.file, dose_unit=args.dose_unit)
    except cp.DataError as err:
        print(err)
        if not simulation and any(p.column == "DV" and "has no DV" in p.message
                                  for p in err.problems):
            print("note: a simulation input needs no DV; check it with "
                  f"`cellpkpd check-data {args.file} --for simulate`")
        return 1
    print(f"{args.file}: OK for {args.purpose}\n{data.summary()}")
    return 0


def _use_every_core() -> None:
    """One JAX host device per core, so that NUTS chains run on separate cores (see
    `cellpkpd.fitting.sampler`). Only possible before JAX has started its backend; in a
    process where it has (a test calling `main`), this does nothing."""
    import os

    import jax._src.xla_bridge as xb

    # A private JAX function; if it goes away, keep the default single device.
    if not getattr(xb, "backends_are_initialized", lambda: True)():
        import numpyro

        numpyro.set_host_device_count(os.cpu_count() or 1)


def cmd_fit(args) -> int:
    _use_every_core()
    from .analysis import run_analysis

    overrides = {}
    for name in ("chains", "warmup", "samples"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    try:
        report = run_analysis(args.config, resume=args.resume, progress=not args.quiet,
                              overrides=overrides)
    except KeyboardInterrupt:
        print(_interrupted_message(args.config), file=sys.stderr)
        return 130
    print(f"report: {report}")
    return 0


def _interrupted_message(config) -> str:
    """One line after Ctrl-C: what was saved, and how to continue."""
    checkpoint = Path(config).resolve().parent / "out" / "checkpoint.npz"
    if not checkpoint.exists():
        return "interrupted before the first NUTS checkpoint; nothing was saved"
    try:
        with np.load(checkpoint) as f:
            done = int(f["done"])
        what = f"{done} NUTS iterations saved in {checkpoint}"
    except Exception:  # a damaged checkpoint: --resume will say so
        what = f"a checkpoint at {checkpoint}"
    return f"interrupted: {what}; continue with: cellpkpd fit {config} --resume"


def cmd_models(args) -> int:
    import cellpkpd as cp

    for name in cp.bundled_models():
        model = cp.load_model(name)
        print(f"{name:20s} time unit {model.time_unit:5s} outputs {list(model.output_names)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cellpkpd", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser(
        "simulate", help="simulate a model over a NONMEM-format dataset or a dose regimen",
        description="Simulate MODEL for the subjects and doses of --data, or of --regimen.",
        epilog=REGIMEN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sim.add_argument("model", help="bundled model name or path to a model file")
    source = sim.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="NONMEM-format CSV with the dose records")
    source.add_argument("--regimen", action="append", metavar="SPEC",
                        help="a protocol regimen or a dose (repeatable; see below)")
    sim.add_argument("--cov", action="append", default=[], metavar="NAME=VALUE",
                     help="with --regimen: a covariate of every subject, e.g. WT=70 (repeatable)")
    sim.add_argument("--subjects", type=int, metavar="N",
                     help="with --regimen: N subjects alike (default 1)")
    sim.add_argument("--covariates", metavar="CSV",
                     help="with --regimen: one row per subject, a column per covariate "
                     "(optional ID)")
    sim.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="parameter value for every subject (repeatable)")
    sim.add_argument("--times", help="output times: 'a,b,c' or 'start:stop:step' (default with "
                     "--data: the observation times; required with --regimen)")
    sim.add_argument("--states", action="store_true", help="also write the state amounts")
    sim.add_argument("--out", required=True, help="output file, .csv or .nc")
    sim.add_argument("--plot", help="also write a PNG of the individual curves (and the data)")
    sim.set_defaults(func=cmd_simulate, compiles=True)

    fit = sub.add_parser("fit", help="run the population fit a fits/<name>/fit.toml describes")
    fit.add_argument("config", help="path to fit.toml; results go to out/ beside it")
    fit.add_argument("--resume", action="store_true",
                     help="continue an interrupted NUTS run from out/checkpoint.npz")
    fit.add_argument("--chains", type=int, help="override [method] chains")
    fit.add_argument("--warmup", type=int, help="override [method] warmup")
    fit.add_argument("--samples", type=int, help="override [method] samples")
    fit.add_argument("--quiet", action="store_true", help="no progress output")
    fit.set_defaults(func=cmd_fit, compiles=True)

    check = sub.add_parser("check-data", help="validate a NONMEM-format dataset")
    check.add_argument("file")
    check.add_argument("--for", dest="purpose", choices=("fit", "simulate"), default="fit",
                       help="what the table is for: 'fit' (default) needs a DV on every "
                       "observation row (EVID 0, MDV 0), as `cellpkpd fit` does; 'simulate' "
                       "accepts DV '.' there, as `cellpkpd simulate --data` does")
    check.add_argument("--model", help="also check compartments etc. against this model")
    check.add_argument("--dose-unit", help="the unit of every AMT (e.g. mg, as fit.toml's "
                       "[data] dose_unit): checked against each dosing compartment's unit")
    check.set_defaults(func=cmd_check_data)

    models = sub.add_parser("models", help="list the bundled models")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "compiles", False):
        # Only where programs are compiled: importing JAX would double the start of
        # check-data and models.
        from .compile_cache import enable_compilation_cache

        enable_compilation_cache()
    try:
        return args.func(args)
    except Exception as err:  # a CLI user gets the message, not a traceback
        from .errors import CellpkpdError

        if isinstance(err, CellpkpdError):
            print(f"error: {err}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
