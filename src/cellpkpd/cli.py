"""The `cellpkpd` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .atomic import atomic_path


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
    if ":" in text:  # start:stop:step
        start, stop, step = (float(x) for x in text.split(":"))
        return np.arange(start, stop + step / 2, step)
    return np.array([float(x) for x in text.split(",")])


def cmd_simulate(args) -> int:
    import cellpkpd as cp

    dataset = cp.read_nonmem(args.data)
    sim = cp.simulate(args.model, dataset, _parse_params(args.param),
                      times=_parse_times(args.times), states=args.states)
    out = Path(args.out)
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

    try:
        data = cp.read_nonmem(args.file)
        if args.model:
            cp.problem(args.model, data, times=[0.0])
    except cp.DataError as err:
        print(err)
        return 1
    print(f"{args.file}: OK\n{data.summary()}")
    return 0


def cmd_fit(args) -> int:
    from .analysis import run_analysis

    overrides = {}
    for name in ("chains", "warmup", "samples"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    report = run_analysis(args.config, resume=args.resume, progress=not args.quiet,
                          overrides=overrides)
    print(f"report: {report}")
    return 0


def cmd_models(args) -> int:
    import cellpkpd as cp

    for name in cp.bundled_models():
        model = cp.load_model(name)
        print(f"{name:20s} time unit {model.time_unit:5s} outputs {list(model.output_names)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cellpkpd", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="simulate a model over a NONMEM-format dataset")
    sim.add_argument("model", help="bundled model name or path to a model file")
    sim.add_argument("--data", required=True, help="NONMEM-format CSV with the dose records")
    sim.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="parameter value for every subject (repeatable)")
    sim.add_argument("--times", help="output times: 'a,b,c' or 'start:stop:step' "
                     "(default: the observation times)")
    sim.add_argument("--states", action="store_true", help="also write the state amounts")
    sim.add_argument("--out", required=True, help="output file, .csv or .nc")
    sim.add_argument("--plot", help="also write a PNG of the individual curves and the data")
    sim.set_defaults(func=cmd_simulate)

    fit = sub.add_parser("fit", help="run the population fit a fits/<name>/fit.toml describes")
    fit.add_argument("config", help="path to fit.toml; results go to out/ beside it")
    fit.add_argument("--resume", action="store_true",
                     help="continue an interrupted NUTS run from out/checkpoint.npz")
    fit.add_argument("--chains", type=int, help="override [method] chains")
    fit.add_argument("--warmup", type=int, help="override [method] warmup")
    fit.add_argument("--samples", type=int, help="override [method] samples")
    fit.add_argument("--quiet", action="store_true", help="no progress output")
    fit.set_defaults(func=cmd_fit)

    check = sub.add_parser("check-data", help="validate a NONMEM-format dataset")
    check.add_argument("file")
    check.add_argument("--model", help="also check compartments etc. against this model")
    check.set_defaults(func=cmd_check_data)

    models = sub.add_parser("models", help="list the bundled models")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
