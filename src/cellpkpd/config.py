"""The analysis file ``fits/<name>/fit.toml``: one versioned description of a population fit.

```toml
seed = 0

[model]
name = "msc_ifna"              # a bundled model, or: path = "../../models/my_model.py"

[data]
path = "data.csv"              # relative to this file
dvid = { 1 = "cp" }            # optional: DVID number -> output name
outputs = ["qpcr_blood", "sld"]  # optional: only these outputs enter the likelihood
dose_unit = "mg"               # optional: the unit of every AMT, checked against (and converted
                               # into) each dosing compartment's declared unit

[population]
estimate = ["k_dl", "s_ifn"]   # optional: estimated typical values (default: all)
fixed = { ka = 1.5 }           # optional
iiv = ["k_dl"]                 # or { k_dl = 0.5 } (HalfNormal scale of omega)
iiv_correlation = false
covariates = { cl = ["WT", "power", 70.0] }
error = { cp = "additive" }
priors = { cl = ["LogNormal", -3.2, 1.0] }   # a numpyro distribution and its arguments

[method]
name = "nuts"                  # nuts | svi | map
chains = 4
warmup = 500
samples = 500
target_accept = 0.8
max_tree_depth = 10
warmup_tree_depth = 4          # optional: a lower cap during warmup only (see cellpkpd.fit)
dense_mass = false
parameterization = "noncentered"  # or "centered": richly sampled subjects (see cellpkpd.fit)

[solver]                       # optional
method = "rodas4"
rtol = 1e-6
atol = 1e-8

[report]                       # optional
vpc_replicates = 100
log_outputs = ["qpcr_blood"]   # default: outputs with log-normal error on a log scale
```

Unknown keys and wrong types raise `ConfigError`, naming the key and the file.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CellpkpdError


class ConfigError(CellpkpdError):
    """A fit.toml that cannot be used as written."""


_NUMBER = (int, float)
SCHEMA = {
    "seed": int,
    "model": {"name": str, "path": str},
    "data": {"path": str, "dvid": dict, "outputs": list, "dose_unit": str},
    "population": {"estimate": list, "fixed": dict, "iiv": (list, dict),
                   "iiv_correlation": bool, "covariates": dict, "error": dict,
                   "priors": dict},
    "method": {"name": str, "chains": int, "warmup": int, "samples": int,
               "target_accept": _NUMBER, "max_tree_depth": int, "warmup_tree_depth": int,
               "dense_mass": bool,
               "svi_steps": int, "svi_learning_rate": _NUMBER, "init_starts": int,
               "parameterization": str},
    "solver": {"method": str, "rtol": _NUMBER, "atol": _NUMBER, "max_steps": int},
    "report": {"vpc_replicates": int, "log_outputs": list, "individual_points": int},
}


@dataclass(frozen=True)
class AnalysisConfig:
    path: Path
    raw: dict
    sha256: str
    fit_kwargs: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    outputs: list | None = None

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def out_dir(self) -> Path:
        return self.folder / "out"


def load_config(path) -> AnalysisConfig:
    """Read and check ``fit.toml``; the returned ``fit_kwargs`` go to `cellpkpd.fit`."""
    path = Path(path).resolve()
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give the path of its fit.toml")
    text = path.read_bytes()
    try:
        raw = tomllib.loads(text.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    _check(raw, SCHEMA, path, "")
    for required in ("model", "data"):
        if required not in raw:
            raise ConfigError(f"{path}: the [{required}] table is missing")
    from .fitting.run import METHODS, PARAMETERIZATIONS

    for key, choices in (("name", METHODS), ("parameterization", PARAMETERIZATIONS)):
        value = raw.get("method", {}).get(key)
        if value is not None and value not in choices:
            raise ConfigError(f"{path}: 'method.{key}' = {value!r} is not one of {choices}")
    model_spec = raw["model"]
    if ("name" in model_spec) == ("path" in model_spec):
        raise ConfigError(f"{path}: [model] needs exactly one of name = \"...\" (a bundled "
                          "model) or path = \"...\" (a model file)")
    if "path" not in raw["data"]:
        raise ConfigError(f"{path}: [data] needs path = \"...\" (the NONMEM-format CSV)")
    data_path = (path.parent / raw["data"]["path"]).resolve()
    if not data_path.exists():
        raise ConfigError(f"{path}: [data] path {raw['data']['path']!r} does not exist "
                          f"(looked for {data_path})")
    if not data_path.is_file():
        raise ConfigError(f"{path}: [data] path {raw['data']['path']!r} is a directory; give "
                          "the path of the NONMEM-format CSV file")
    _check_method(raw.get("method", {}), path)
    _check_dose_unit(raw["data"].get("dose_unit"), path)
    if raw.get("seed", 0) < 0:
        raise ConfigError(f"{path}: 'seed' = {raw['seed']} must be >= 0 (a JAX PRNG seed)")
    model = (model_spec["name"] if "name" in model_spec
             else str((path.parent / model_spec["path"]).resolve()))
    pop = raw.get("population", {})
    method = dict(raw.get("method", {}))
    kwargs = {
        "model": model, "data": data_path, "seed": raw.get("seed", 0),
        "method": method.pop("name", "nuts"),
        "iiv": pop.get("iiv", []), "iiv_correlation": pop.get("iiv_correlation", False),
        "covariates": pop.get("covariates"),
        "error": pop.get("error"), "fixed": pop.get("fixed"),
        "estimate": pop.get("estimate"),
        "priors": _priors(pop.get("priors", {}), path),
        "dvid": _dvid(raw["data"].get("dvid"), path),
        **method,
    }
    if "solver" in raw:
        from .solver import Solver

        try:
            kwargs["solver"] = Solver(**raw["solver"])
        except (TypeError, ValueError, CellpkpdError) as err:
            raise ConfigError(f"{path}: [solver]: {err}") from None
    return AnalysisConfig(path=path, raw=raw, sha256=hashlib.sha256(text).hexdigest(),
                          fit_kwargs=kwargs, report=raw.get("report", {}),
                          outputs=raw["data"].get("outputs"))


def _dvid(mapping: dict | None, path: Path) -> dict | None:
    """``{ 1 = "cp" }``: TOML keys are text; each must be a whole DVID number."""
    if mapping is None:
        return None
    out = {}
    for key, name in mapping.items():
        if not key.strip().isdigit():
            raise ConfigError(f"{path}: 'data.dvid' key {key!r} is not a DVID number; write "
                              "dvid = { 1 = \"output\", 2 = \"other\" }")
        if not isinstance(name, str):
            raise ConfigError(f"{path}: 'data.dvid.{key}' must be an output name, got {name!r}")
        out[int(key)] = name
    return out


def _check_dose_unit(unit: str | None, path: Path) -> None:
    """A flat amount unit pint can read: the compartments are checked once the model loads."""
    if unit is None:
        return
    from .dose_units import parse_dose_unit
    from .errors import UnitError

    try:
        parsed = parse_dose_unit(unit, what="'data.dose_unit'")
    except UnitError as err:
        raise ConfigError(f"{path}: {err}") from None
    if parsed.per is not None:
        raise ConfigError(f"{path}: 'data.dose_unit' = {unit!r} is per body size, but a "
                          "table's AMT is the amount given; write AMT as the amount and "
                          f"dose_unit = {parsed.amount_text!r}")


def _check_method(method: dict, path: Path) -> None:
    """Sampler settings whose mistakes would otherwise surface after compiling."""
    accept = method.get("target_accept")
    if accept is not None and not 0 < accept < 1:
        raise ConfigError(f"{path}: 'method.target_accept' = {accept} must be in (0, 1), "
                          "e.g. 0.8")
    for key in ("chains", "warmup", "samples", "max_tree_depth", "warmup_tree_depth",
                "svi_steps", "init_starts"):
        if key in method and method[key] < 1:
            raise ConfigError(f"{path}: 'method.{key}' = {method[key]} must be >= 1")


def _check(table: dict, schema: dict, path: Path, prefix: str) -> None:
    for key, value in table.items():
        where = f"{prefix}{key}"
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"{path}: unknown key {where!r} (known here: {known})")
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {where!r} must be a table [{where}]")
            _check(value, expected, path, f"{where}.")
            continue
        types = expected if isinstance(expected, tuple) else (expected,)
        bad_bool = isinstance(value, bool) and bool not in types
        if bad_bool or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"{path}: {where!r} must be {names}, got {value!r}")


def _priors(priors: dict, path: Path) -> dict | None:
    if not priors:
        return None
    import numpyro.distributions as dist

    out = {}
    for site, spec in priors.items():
        if not (isinstance(spec, list) and spec and isinstance(spec[0], str)
                and hasattr(dist, spec[0])):
            raise ConfigError(f"{path}: priors.{site} must be [\"Distribution\", args...] "
                              f"with a numpyro distribution name, got {spec!r}")
        try:
            out[site] = getattr(dist, spec[0])(*spec[1:])
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{path}: priors.{site} = {spec!r}: {err}") from None
    return out
