"""`simulate_population`: virtual subjects drawn from a fit, from priors or from the model's
defaults, given one or several regimens, solved in compiled chunks of bounded memory.

How a virtual subject is made (the same rules as the population model of `cellpkpd.fit`, whose
functions are reused, so a fit is simulated exactly as it was estimated):

- each ``draw`` is one set of population values: a posterior draw of a `Fit` (typical values,
  Omega, covariate effects, residual SDs), a draw of the typical values from ``priors``, or
  the model's defaults;
- each subject of a draw gets new random effects ``eta = diag(omega) L z`` with
  ``z ~ Normal(0, I)``, on the log scale of positive parameters, the logit scale of bounded ones
  (fractions) and the natural scale of unbounded ones;
- its residual errors are drawn once and used for every regimen, so regimens are compared on
  the very same virtual subjects.

Every random number is keyed by (seed, draw, subject) with JAX's counter-based generator, so a
subject does not depend on ``chunk``, on ``n`` (without covariate resampling), on the regimens or
on the device.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import xarray as xr

from .dose_units import dose_factor, parse_dose_unit
from .engine import describe_status
from .errors import ArgumentTypeError, ModelError, ParameterError
from .events import _covariate_matrix
from .fitting.population import eta_from_z, individual_theta, prior_sites
from .fitting.results import Fit
from .fitting.run import solver_for
from .fitting.spec import CovariateEffect, ErrorModel, PopulationSpec, _estimated
from .model import Model, ResidualError
from .regimens import Regimen, bsa, population_table
from .simulation import _as_model, problem
from .solver import Solver

DEFAULT_CHUNK = 1024
_STREAM_Z, _STREAM_EPS, _STREAM_PRIOR, _RNG_DRAWS, _RNG_COVARIATES = 1, 2, 3, 4, 5


def simulate_population(model, source, regimens, n: int, seed: int, *, times,
                        outputs: Sequence[str] | None = None,
                        iiv: Mapping[str, float] | None = None,
                        covariates: Mapping | pd.DataFrame | None = None,
                        draws: int | None = None, residual_error: bool = True,
                        solver: Solver | None = None, chunk: int = DEFAULT_CHUNK,
                        reduce: Callable[[xr.Dataset], xr.Dataset] | None = None,
                        error: Mapping[str, ResidualError] | None = None) -> xr.Dataset:
    """Simulate ``n`` virtual subjects per draw under each regimen.

    Parameters
    ----------
    model : Model or str
        A model, or a bundled model's name or a model file.
    source : Fit, "defaults" or {param: numpyro distribution}
        Where the population values come from. A `Fit`: its posterior draws (typical values,
        omegas and Omega correlations, covariate effects, residual SDs; parameters the fit
        held fixed keep its values). ``"defaults"``: the model's default values, no
        uncertainty. A dict of priors: draws of those typical values (the others at their
        defaults).
    regimens : Regimen, or a dict {name: Regimen}, or a list of named Regimens
        Compared on the same virtual subjects (same parameters, same residual noise).
    n : int
        Virtual subjects per draw.
    seed : int
        The one source of randomness; the same seed gives the same result.
    times : 1-D array
        Output times, in the model's time unit, increasing.
    outputs : list of str, optional
        Model outputs to return (default: all).
    iiv : {param: omega}, optional
        SD of the random effect of each parameter, for ``"defaults"`` and prior sources (a
        `Fit` brings its own): on the log scale of positive parameters, the logit scale of
        parameters bounded on both sides (fractions), the natural scale otherwise, as in
        `cellpkpd.fit`.
    covariates : None, dict or DataFrame
        None: the model's default covariates. A dict of constants (or of arrays of length
        ``n``). A DataFrame with one row per subject: used in order when it has ``n`` rows,
        otherwise ``n`` rows are drawn from it with the seed (with replacement when it is
        shorter, without when longer); ``covariate_row`` records which. Columns named like the
        model's covariates are used by the model; WT and BSA (or WT and HT) scale per-kg and
        per-m² doses; a fit's covariate model reads its columns (categorical ones as the
        numeric codes the fit used).
    draws : int, optional
        Number of draws: of a fit's posterior (picked with the seed without replacement;
        default every draw), of the priors (required), or of independent replicates of the
        population at the defaults (default 1).
    residual_error : bool
        Also return observations with residual error, as ``<output>_obs``.
    solver : Solver, optional
        ODE settings (default: the model's).
    chunk : int
        Subjects solved per compiled call; every chunk and every regimen with the same event
        structure share one compilation. Memory grows with ``chunk`` x draws x regimens x
        times x outputs.
    reduce : callable, optional
        Applied to each chunk's Dataset (the result's layout, for that chunk's subjects); must
        return a Dataset whose every variable keeps the ``subject`` dim (e.g. per-subject
        endpoints: Cmax, nadir, an SLD ratio). The pieces are concatenated over subjects, so
        memory stays bounded for populations whose full output would not fit. The subjects'
        parameters, covariates and ``solver_failed`` are added back when ``reduce`` drops them.
    error : {output: ResidualError}, optional
        Residual error models replacing the model's declared ones (outputs the fit estimated
        keep the fit's). Outputs without any get no ``_obs`` variable.

    Returns
    -------
    xarray.Dataset
        - ``<output>`` (regimen, draw, subject, time): predictions without residual error, in
          the output's unit; ``<output>_obs`` the same with residual error;
        - per-subject parameters (draw, subject) for every parameter that varies (random
          effects, covariate effects or uncertain typical values); the rest are the model's
          defaults (or the fit's fixed values, listed in the ``fixed_parameters`` attr);
        - the population values of each draw (draw): ``tv_<param>``, ``omega_<param>``,
          ``beta_*``, ``sigma_*``;
        - covariates (subject) and ``covariate_row`` (subject) when sampled from a table;
        - ``solver_failed`` (regimen, draw, subject): True where the solve failed; those
          subjects' outputs are NaN and a `RuntimeWarning` gives their count.

        Attrs: ``model``, ``time_unit``, ``seed``, ``source``, ``solver`` and
        ``fixed_parameters``.

    Notes
    -----
    A failed solve neither raises nor disappears: one failure among 100,000 subjects should
    not cost the other 99,999, so it is NaN, flagged and counted (the warning names the first
    one, its regimen, draw and parameters). Everything runs with JAX on its default device, so
    the same call runs on CPU or GPU; ``chunk`` bounds the device memory as well.
    """
    model = _as_model(model)
    n = _count(n, "n", "the number of virtual subjects")
    chunk = _count(chunk, "chunk", "the number of subjects solved per compiled call")
    if not (isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0):
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")
    if draws is not None:
        draws = _count(draws, "draws", "the number of population draws")
    if reduce is not None and not callable(reduce):
        raise ArgumentTypeError(
            f"reduce= must be a callable Dataset -> Dataset, got {type(reduce)}")
    grid = _check_times(times)
    output_names = _check_outputs(model, outputs)
    named = _named_regimens(regimens)
    key = jax.random.PRNGKey(int(seed))

    pop = _population(model, source, iiv, draws, int(seed), key)
    errors = _residual_errors(model, pop, output_names, error) if residual_error else {}
    subjects = _subjects(model, covariates, n, int(seed), pop.spec, named)
    solver = (solver or Solver()).resolve(model)
    templates = [_Template.build(model, name, reg, grid, solver) for name, reg in named]

    run = _Run(model, pop, subjects, templates, grid, output_names, errors, key)
    gather = _Gather(n)
    batch = min(chunk, n)
    for start in range(0, n, batch):
        index = np.arange(start, min(start + batch, n))
        piece = run.chunk(index, batch)
        if reduce is not None:
            piece = _reduced(reduce, piece, run.per_subject_names, index.size)
        gather.add(piece, start)
    result = gather.result()
    for name, variable in run.population_variables().items():
        result[name] = variable
    result.attrs.update(run.attrs(seed=int(seed), solver=solver.method))
    run.warn_failures()
    return result


# -- argument checks --------------------------------------------------------------------------

def _count(value, name: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ParameterError(f"{name}={value!r} must be a whole number >= 1 ({what})")
    return int(value)


def _check_times(times) -> np.ndarray:
    grid = np.asarray(times, dtype=float)
    if grid.ndim != 1 or grid.size == 0:
        raise ParameterError(f"times= must be a non-empty 1-D array of output times, got shape "
                         f"{grid.shape}; e.g. times=np.arange(0.0, 337.0, 7.0)")
    if not np.all(np.isfinite(grid)):
        raise ParameterError("times= contains non-finite values; give finite output times")
    if np.any(np.diff(grid) <= 0):
        raise ParameterError("times= must be strictly increasing; pass np.unique(times)")
    return grid


def _check_outputs(model: Model, outputs) -> tuple[str, ...]:
    if outputs is None:
        return model.output_names
    names = (outputs,) if isinstance(outputs, str) else tuple(outputs)
    unknown = [o for o in names if o not in model.output_names]
    if unknown or not names or len(set(names)) != len(names):
        raise ParameterError(f"outputs={list(names)!r}: give distinct outputs of model "
                         f"{model.name!r}, from {list(model.output_names)}")
    return names


def _named_regimens(regimens) -> list[tuple[str, Regimen]]:
    if isinstance(regimens, Regimen):
        return [(regimens.name or "regimen", regimens)]
    if isinstance(regimens, Mapping):
        named = [(str(k), v) for k, v in regimens.items()]
    elif isinstance(regimens, (list, tuple)):
        named = [(getattr(r, "name", ""), r) for r in regimens]
        names = [name for name, _ in named]
        if any(not name for name in names) or len(set(names)) != len(names):
            raise ParameterError(f"regimens= are named by Regimen.name, and these are {names}: "
                             "give a dict {name: Regimen} instead")
    else:
        raise ArgumentTypeError(f"regimens= must be a Regimen, a dict or a list of them, got "
                        f"{type(regimens).__name__}")
    if not named:
        raise ParameterError("regimens= is empty; give at least one Regimen "
                         "(e.g. cellpkpd.regimens.msc_ifna_combination())")
    for name, reg in named:
        if not isinstance(reg, Regimen):
            raise ArgumentTypeError(f"regimens[{name!r}] is a {type(reg).__name__}, not a Regimen; "
                            "build it with cellpkpd.regimen(...)")
    return named


# -- population values per draw ---------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Population:
    """The population model (a `PopulationSpec`), its values per draw (site -> (D, ...)), the
    parameter vector every subject starts from, and what the draws are."""

    kind: str
    spec: PopulationSpec
    values: dict
    base: np.ndarray
    n_draws: int
    draw_coords: dict
    fixed: dict
    fit_errors: dict  # output -> ErrorModel estimated by a fit


def _population(model, source, iiv, draws, seed, key) -> _Population:
    base = np.array([float(p.value) for p in model.params])
    if isinstance(source, Fit):
        if iiv is not None:
            raise ParameterError("iiv= is for 'defaults' and prior sources; a Fit brings its "
                                 "own IIV: drop iiv=")
        return _from_fit(model, source, draws, seed, base)
    if isinstance(source, str):
        if source != "defaults":
            raise ParameterError(f"source={source!r}: give a Fit, 'defaults' or a dict "
                             "{param: numpyro distribution}")
        priors, kind, n_draws = {}, "defaults", draws or 1
    elif isinstance(source, Mapping):
        priors, kind = dict(source), "priors"
        if draws is None:
            raise ParameterError("a prior source needs draws= (the number of typical-value "
                             "draws), e.g. draws=100")
        n_draws = draws
    else:
        raise ArgumentTypeError(f"source= must be a Fit, 'defaults' or a dict of priors, got "
                        f"{type(source).__name__}")
    omegas = _check_iiv(model, iiv)
    _known(model, priors, "source (priors)")
    names = [p for p in model.param_names if p in priors or p in omegas]
    estimated = tuple(_estimated(model, p) for p in names)
    spec = PopulationSpec(model_name=model.name, param_names=model.param_names,
                          estimated=estimated, iiv=tuple(p for p in names if p in omegas),
                          iiv_correlation=False, effects=(), errors=())
    values = {}
    prior_key = jax.random.fold_in(key, _STREAM_PRIOR)
    for e in estimated:
        if e.name in priors:  # keyed by the parameter, so other options do not shift draws
            values[e.name] = _prior_draws(model, e.name, priors[e.name],
                                          jax.random.fold_in(prior_key, e.column), n_draws)
        else:
            values[e.name] = np.full(n_draws, e.default)
    for p in spec.iiv:
        values[f"omega_{p}"] = np.full(n_draws, omegas[p])
    return _Population(kind, spec, values, base, n_draws, {}, {}, {})


def _known(model, mapping, what):
    unknown = sorted(set(mapping) - set(model.param_names))
    if unknown:
        raise ParameterError(f"{what} names {unknown}, which model {model.name!r} does not "
                             f"have; its parameters are {list(model.param_names)}")


def _check_iiv(model, iiv) -> dict[str, float]:
    if iiv is None:
        return {}
    if not isinstance(iiv, Mapping):
        raise ArgumentTypeError("iiv= must be a dict {param: omega}, e.g. {'cl': 0.3}")
    _known(model, iiv, "iiv=")
    out = {}
    for name, omega in iiv.items():
        try:
            value = float(omega)
        except (TypeError, ValueError):
            value = float("nan")
        if not (math.isfinite(value) and value > 0):
            raise ParameterError(f"iiv[{name!r}] = {omega!r}: omega must be a finite SD > 0 "
                                 "(e.g. 0.3 for ~30% CV); leave the parameter out for no IIV")
        out[name] = value
    return out


def _prior_draws(model, name, prior, key, n_draws) -> np.ndarray:
    if not isinstance(prior, dist.Distribution):
        raise ParameterError(f"source[{name!r}] must be a numpyro distribution, got {prior!r}")
    if prior.batch_shape or prior.event_shape:
        raise ParameterError(f"source[{name!r}] must be a scalar distribution, got batch "
                             f"shape {prior.batch_shape} and event shape {prior.event_shape}")
    values = np.asarray(prior.sample(key, (n_draws,)), dtype=float)
    param = model.params[model.param_names.index(name)]
    for d, v in enumerate(values):
        why = param.check(float(v))
        if why:
            raise ParameterError(
                f"source[{name!r}] drew {v:g} (draw {d}), which {why}; give a prior on the "
                f"parameter's support (e.g. LogNormal for a positive parameter)")
    return values


def _from_fit(model, fit: Fit, draws, seed, base) -> _Population:
    prov = fit.provenance
    if prov["model"] != model.name:
        raise ModelError(f"the fit is of model {prov['model']!r}, not {model.name!r}; "
                         f"simulate it with model={prov['model']!r}")
    desc = prov["spec"]
    spec = PopulationSpec(
        model_name=model.name, param_names=model.param_names,
        estimated=tuple(_estimated(model, e["name"]) for e in desc["estimated"]),
        iiv=tuple(desc["iiv"]), iiv_correlation=bool(desc["iiv_correlation"]),
        effects=tuple(CovariateEffect(**c) for c in desc["covariates"]),
        errors=tuple(ErrorModel(o, model.output_names.index(o), kind)
                     for o, kind in desc["error"].items()))
    fixed = {k: float(v) for k, v in prov["options"].get("fixed", {}).items()}
    for name, value in fixed.items():
        base[model.param_names.index(name)] = value
    post = fit.idata.posterior
    chains, per_chain = post.sizes["chain"], post.sizes["draw"]
    total = chains * per_chain
    if draws is None:
        pick = np.arange(total)
    elif draws > total:
        raise ParameterError(f"draws={draws} but the fit has {total} posterior draws; ask for at "
                         f"most {total}")
    else:
        pick = np.sort(np.random.default_rng([seed, _RNG_DRAWS]).choice(total, draws,
                                                                         replace=False))
    values = {}
    for site in prior_sites(spec):
        flat = np.asarray(post[site].values, dtype=float).reshape(total, *post[site].shape[2:])
        values[site] = flat[pick]
    coords = {"chain": ("draw", pick // per_chain), "posterior_draw": ("draw", pick % per_chain)}
    return _Population("fit", spec, values, base, pick.size, coords, fixed,
                       {e.output: e for e in spec.errors})


@dataclass(frozen=True)
class _ErrorDraws:
    """One output's residual error model, with its SDs per draw (``prop`` is the log-scale SD
    of a log-normal model)."""

    kind: str
    add: np.ndarray
    prop: np.ndarray
    label: str


def _residual_errors(model, pop: _Population, outputs, override) -> dict[str, _ErrorDraws]:
    override = dict(override or {})
    unknown = sorted(set(override) - set(model.output_names))
    if unknown:
        raise ParameterError(f"error= names {unknown}, which are not outputs of model "
                         f"{model.name!r}; its outputs are {list(model.output_names)}")
    for name, err in override.items():
        if not isinstance(err, ResidualError):
            raise ArgumentTypeError(f"error[{name!r}] must be a cellpkpd.ResidualError, e.g. "
                            f"ResidualError('proportional', prop=0.2); got {err!r}")
        if name in pop.fit_errors:
            raise ParameterError(f"the fit estimated the residual error of {name!r}; drop it "
                                 "from error=")
    d = pop.n_draws
    out = {}
    for name in outputs:
        if name in pop.fit_errors:
            e = pop.fit_errors[name]
            sig = [pop.values[s] for s in e.sigma_names]
            zero = np.zeros(d)
            add, prop = {"additive": (sig[0], zero), "combined": (sig[0], sig[-1])}.get(
                e.kind, (zero, sig[0]))
            out[name] = _ErrorDraws(e.kind, add, prop, f"{e.kind}, the fit's "
                                    f"{' and '.join(e.sigma_names)} per draw")
            continue
        err = override.get(name) or model.outputs[model.output_names.index(name)].error
        if err is None:
            continue
        prop = err.sigma if err.kind == "lognormal" else err.prop
        out[name] = _ErrorDraws(err.kind, np.full(d, err.add or 0.0), np.full(d, prop or 0.0),
                                str(err))
    return out


def _observe(f, eps, kind, add, prop):
    """Observations around predictions ``f`` (draw-specific SDs broadcast over subjects and
    times), as `ResidualError.sample` and the fitting likelihood define them."""
    if kind == "lognormal":
        return f * np.exp(prop * eps)
    return f + np.sqrt(add**2 + (prop * f) ** 2) * eps


# -- virtual subjects' covariates -------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Subjects:
    table: pd.DataFrame  # the user's columns, one row per subject
    model_cov: np.ndarray  # (n, n_model_covariates), as the model reads them
    effect_cov: np.ndarray  # (n, n_effects), for the fit's covariate model
    dose_amounts: dict  # regimen name -> (n, n_doses), in the compartments' units
    source_row: np.ndarray | None


def _subjects(model, covariates, n, seed, spec, regimens) -> _Subjects:
    table, rows = _covariate_table(model, covariates, n, seed)
    model_cov = _covariate_matrix(model, table)
    columns = {name: model_cov[:, k] for k, name in enumerate(model.covariate_names)}
    columns.update({c: table[c].to_numpy(dtype=float) for c in table.columns})
    effect_cov = np.stack([_effect_values(e, columns) for e in spec.effects], axis=1) \
        if spec.effects else np.zeros((n, 0))
    amounts = {name: np.stack([_dose_amounts(model, dose, columns, n) for dose in reg.doses],
                              axis=1)
               for name, reg in regimens}
    return _Subjects(table, model_cov, effect_cov, amounts, rows)


def _covariate_table(model, covariates, n, seed) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The user's covariates as a numeric table of ``n`` rows, and which row of the given
    table each subject took (None unless a table was resampled)."""
    if covariates is None:
        return pd.DataFrame(index=range(n)), None
    if isinstance(covariates, pd.DataFrame):
        if len(covariates) == 0:
            raise ParameterError("covariates= is an empty table; give at least one row")
        table = _numeric(model, covariates.reset_index(drop=True), "row")
        if len(table) == n:
            return table, None
        rows = np.random.default_rng([seed, _RNG_COVARIATES]).choice(
            len(table), n, replace=len(table) < n)
        return table.iloc[rows].reset_index(drop=True), rows
    if isinstance(covariates, Mapping):
        columns = {}
        for name, value in covariates.items():
            value = np.asarray(value)
            if value.ndim == 0:
                value = np.full(n, value)
            if value.shape != (n,):
                raise ParameterError(f"covariates[{name!r}] has shape {value.shape}; give a "
                                 f"constant or one value per subject ({n} values)")
            columns[str(name)] = value
        return _numeric(model, pd.DataFrame(columns), "subject"), None
    raise ArgumentTypeError("covariates= must be None, a dict or a pandas DataFrame, got "
                    f"{type(covariates).__name__}")


def _numeric(model, table: pd.DataFrame, what: str) -> pd.DataFrame:
    """Every column as finite floats (NaN only where the model reads NaN as "absent")."""
    absent_ok = {c.name for c in model.covariates if math.isnan(c.default)}
    out = pd.DataFrame(index=table.index)
    for column in table.columns:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        given = table[column].notna().to_numpy()
        bad = ~np.isfinite(values) & (given | (str(column) not in absent_ok))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ParameterError(f"covariates column {column!r}, {what} {i}: "
                             f"{table[column].iloc[i]!r} is not a finite number; give numbers "
                             "(code categories as numbers)")
        out[str(column)] = values
    return out


def _effect_values(effect: CovariateEffect, columns) -> np.ndarray:
    if effect.covariate not in columns:
        raise ParameterError(f"the fit's covariate model ({effect.name}) uses "
                         f"{effect.covariate!r}; give covariates= with a {effect.covariate} "
                         "column")
    values = columns[effect.covariate]
    if effect.form == "power" and np.any(values <= 0):
        raise ParameterError(f"covariate {effect.covariate} must be > 0 for the fit's power "
                         f"effect {effect.name}")
    return values


def _categorical_check(spec: PopulationSpec, effect_cov: np.ndarray):
    """Categorical covariates must hold one of the codes the fit knew."""
    for name in {e.covariate for e in spec.effects if e.form == "categorical"}:
        ks = [k for k, e in enumerate(spec.effects) if e.covariate == name]
        codes = {spec.effects[ks[0]].reference} | {spec.effects[k].level for k in ks}
        values = effect_cov[:, ks[0]]
        bad = ~np.isin(values, sorted(codes))
        if bad.any():
            labels = {spec.effects[k].label: spec.effects[k].level for k in ks}
            raise ParameterError(f"covariate {name} = {values[bad][0]!r} is not a level the fit "
                             f"knows; give the codes {sorted(codes)} (non-reference levels "
                             f"{labels}, reference {spec.effects[ks[0]].reference})")


def _dose_amounts(model, dose, columns, n) -> np.ndarray:
    """The amount of every administration of ``dose`` for each subject, in the unit of its
    compartment in ``model`` (`Dose.scale`, with the per-kg or per-m² covariate taken per
    subject)."""
    unit = parse_dose_unit(dose.unit)
    factor = dose.factor(model)  # checks the dose's unit against the compartment's
    per = unit.per
    if per is None:
        return np.full(n, unit.absolute(dose.amount) * factor)
    if per in columns:
        values = columns[per]
    elif per == "BSA" and {"WT", "HT"} <= set(columns):
        values = bsa(columns["WT"], columns["HT"])
    else:
        need = "BSA, or WT and HT," if per == "BSA" else per
        raise ParameterError(f"a dose in {dose.unit} needs each subject's {need}; give "
                         f"covariates={{'{per}': ...}} or a table with that column")
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ParameterError(f"a dose in {dose.unit} needs {per} > 0 for every subject")
    return unit.absolute(dose.amount, values) * factor


# -- one regimen, translated once ------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Template:
    """A regimen's event arrays for one subject; every virtual subject is this subject with its
    own covariates and dose amounts, so events are translated once, not once per subject."""

    name: str
    solve: Callable
    arrays: dict
    dose_of_event: np.ndarray  # (n_dose_events,): which Dose of the regimen
    grid_records: np.ndarray  # (T,): the record of each output time

    @classmethod
    def build(cls, model, name, regimen: Regimen, grid, solver) -> _Template:
        # Each Dose becomes a flat dose of amount k + 1, so the translated events say which
        # Dose they come from, whatever the order the table and ADDL expansion give them.
        # The tags are not amounts: the table carries no dose unit to convert them by (the
        # real amounts, in the compartments' units, are `_dose_amounts`); a given RATE is
        # put in the compartment's unit here.
        tagged = Regimen(tuple(dataclasses.replace(
            d, amount=float(k + 1), unit=parse_dose_unit(d.unit).amount_text, amount_unit=None,
            rate=None if d.rate is None else d.rate * dose_factor(model, d.cmt, d.table_unit))
            for k, d in enumerate(regimen.doses)), name=regimen.name)
        table = dataclasses.replace(population_table(tagged), dose_unit=None)
        prob = problem(model, table, times=grid, solver=solver)
        arrays = prob.events.arrays
        dose_of_event = np.rint(arrays["dose_amt"][0]).astype(int) - 1
        record_grid = prob.events.record_grid[0]
        grid_records = np.empty(grid.size, int)
        grid_records[record_grid[record_grid >= 0]] = np.flatnonzero(record_grid >= 0)
        return cls(name, solver_for(prob), arrays, dose_of_event, grid_records)

    def chunk_arrays(self, cov: np.ndarray, dose_amounts: np.ndarray) -> dict:
        """Event arrays for subjects with covariates ``cov`` (S, C) and dose amounts (S, doses)."""
        s = cov.shape[0]
        out = {k: np.broadcast_to(v, (s, *v.shape[1:])) for k, v in self.arrays.items()}
        out["cov0"] = cov
        for k in ("rec_cov_own", "rec_cov_after", "dose_cov", "ss_cov"):
            out[k] = np.broadcast_to(cov[:, None, :], out[k].shape)
        out["dose_amt"] = dose_amounts[:, self.dose_of_event]
        return {k: jnp.asarray(v) for k, v in out.items()}


# -- the chunked run ---------------------------------------------------------------------------

@functools.partial(jax.jit, static_argnames=("shape",))
def _normals(key, draw, subjects, shape):
    """Standard normals of shape ``shape`` for each subject, keyed by (draw, subject) alone."""
    key = jax.random.fold_in(key, draw)
    return jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), shape,
                                                jnp.float64))(subjects)


def _theta_function(spec: PopulationSpec):
    """Jitted ``(values, key, draw, index, cov, base) -> (theta (S, P), valid (S,))``: the
    population model's individual parameters, with z keyed by (draw, subject). Cached on what
    the computation depends on, so repeated calls with the same population model compile once
    per chunk shape."""
    return _cached_theta_function(spec.model_name, spec.param_names, spec.estimated, spec.iiv,
                                  spec.iiv_correlation, spec.effects)


@functools.lru_cache(maxsize=32)
def _cached_theta_function(model_name, param_names, estimated, iiv, iiv_correlation, effects):
    spec = PopulationSpec(model_name=model_name, param_names=param_names, estimated=estimated,
                          iiv=iiv, iiv_correlation=iiv_correlation, effects=effects, errors=())

    def theta(values, key, draw, index, cov, base):
        s = index.shape[0]
        z = (_normals(key, draw, index, (len(spec.iiv),)) if spec.iiv
             else jnp.zeros((s, 0)))
        eta = eta_from_z(spec, values, z)
        data = {"theta": jnp.broadcast_to(base, (s, base.shape[0])), "cov": cov}
        return individual_theta(spec, values, eta, data)

    return jax.jit(theta)


class _Run:
    def __init__(self, model, pop, subjects, templates, grid, outputs, errors, key):
        self.model, self.pop, self.subjects, self.templates = model, pop, subjects, templates
        self.grid, self.outputs, self.errors = grid, outputs, errors
        self.out_cols = np.array([model.output_names.index(o) for o in outputs])
        self.varying = [e.column for e in pop.spec.estimated]
        self.key_z = jax.random.fold_in(key, _STREAM_Z)
        self.key_eps = jax.random.fold_in(key, _STREAM_EPS)
        self.failed = 0
        self.first_failure = None
        self.names = _variable_names(model, pop.spec, outputs, errors, subjects)
        self._theta = _theta_function(pop.spec)
        _categorical_check(pop.spec, subjects.effect_cov)

    @property
    def per_subject_names(self) -> list[str]:
        return [*self.names["params"].values(), *self.names["covariates"].values(),
                "solver_failed", *(["covariate_row"] if self.subjects.source_row is not None
                                   else [])]

    def theta(self, draw: int, index: np.ndarray):
        """Parameters (S, P) of the subjects ``index`` in ``draw``, and whether they are valid
        (a linear covariate effect can make a parameter non-positive)."""
        values = {k: v[draw] for k, v in self.pop.values.items()}
        theta, valid = self._theta(values, self.key_z, draw, index,
                                   self.subjects.effect_cov[index], self.pop.base)
        return theta, np.asarray(valid)

    def chunk(self, index: np.ndarray, batch: int) -> xr.Dataset:
        m = index.size
        padded = np.concatenate([index, np.full(batch - m, index[0])])
        subj = self.subjects
        arrays = [t.chunk_arrays(subj.model_cov[padded], subj.dose_amounts[t.name][padded])
                  for t in self.templates]
        n_r, n_d, n_t = len(self.templates), self.pop.n_draws, self.grid.size
        pred = np.empty((len(self.outputs), n_r, n_d, m, n_t))
        failed = np.zeros((n_r, n_d, m), bool)
        params = np.empty((len(self.varying), n_d, m))
        eps = {}
        for d in range(n_d):
            theta, valid = self.theta(d, padded)
            theta_host = np.asarray(theta)[:m]
            params[:, d] = theta_host[:, self.varying].T
            for r, (template, ev) in enumerate(zip(self.templates, arrays, strict=True)):
                out, _, status = template.solve(theta, ev)
                out = np.asarray(out)[:m][:, template.grid_records][:, :, self.out_cols]
                status = np.asarray(status)[:m]
                bad = (status != 0) | ~valid[:m] | ~np.all(np.isfinite(out), axis=(1, 2))
                out[bad] = np.nan
                pred[:, r, d] = np.moveaxis(out, 2, 0)
                failed[r, d] = bad
                self._note_failures(template.name, d, index, bad, status, theta_host)
            if self.errors:
                noise = _normals(self.key_eps, d, jnp.asarray(padded),
                                 (n_t, len(self.model.outputs)))
                eps[d] = np.asarray(noise)[:m]
        return self._dataset(index, pred, failed, params, eps)

    def _note_failures(self, regimen, draw, index, bad, status, theta):
        if not bad.any():
            return
        self.failed += int(bad.sum())
        if self.first_failure is None:
            i = int(np.flatnonzero(bad)[0])
            why = describe_status(int(status[i])) or ("a linear covariate effect made a "
                                                      "parameter non-positive, or an output "
                                                      "is not finite")
            shown = {self.model.param_names[c]: float(theta[i, c]) for c in self.varying}
            self.first_failure = (f"regimen {regimen!r}, draw {draw}, subject {int(index[i])} "
                                  f"({why}; parameters {shown})")

    def _dataset(self, index, pred, failed, params, eps) -> xr.Dataset:
        model, names = self.model, self.names
        dims = ("regimen", "draw", "subject", "time")
        data = {}
        for k, o in enumerate(self.outputs):
            spec = model.outputs[model.output_names.index(o)]
            attrs = {"units": spec.unit, "description": spec.description,
                     **({"lloq": spec.lloq} if spec.lloq is not None else {})}
            data[o] = (dims, pred[k], attrs)
            if o in self.errors:
                e = self.errors[o]
                col = model.output_names.index(o)
                noise = np.stack([eps[d][:, :, col] for d in range(self.pop.n_draws)])
                obs = _observe(pred[k], noise[None], e.kind, e.add[None, :, None, None],
                               e.prop[None, :, None, None])
                data[names["obs"][o]] = (dims, obs, {**attrs, "residual_error": e.label})
        for j, c in enumerate(self.varying):
            p = model.params[c]
            data[names["params"][p.name]] = (("draw", "subject"), params[j],
                                             {"units": p.unit, "description": p.description})
        declared = {c.name: c for c in model.covariates}
        for column, name in names["covariates"].items():
            if column in declared:
                values = self.subjects.model_cov[index, model.covariate_names.index(column)]
                attrs = {"units": declared[column].unit,
                         "description": declared[column].description}
            else:
                values = self.subjects.table[column].to_numpy()[index]
                attrs = {"units": "as given", "description": "given in covariates="}
            data[name] = (("subject",), values, attrs)
        data["solver_failed"] = (("regimen", "draw", "subject"), failed, {
            "description": "the solve failed (or gave non-finite outputs): outputs are NaN"})
        if self.subjects.source_row is not None:
            data["covariate_row"] = (("subject",), self.subjects.source_row[index],
                                     {"description": "row of the covariates table"})
        coords = {"regimen": [t.name for t in self.templates],
                  "draw": np.arange(self.pop.n_draws), "subject": index,
                  "time": ("time", self.grid, {"units": model.time_unit})}
        coords.update(self.pop.draw_coords)
        return xr.Dataset(data, coords=coords)

    def population_variables(self) -> dict:
        out = {}
        units = self.model.units()
        for e in self.pop.spec.estimated:
            out[f"tv_{e.name}"] = xr.DataArray(self.pop.values[e.name], dims=("draw",), attrs={
                "units": units[e.name], "description": f"typical value of {e.name}"})
        for site in prior_sites(self.pop.spec):
            if site not in self.pop.spec.estimated_names and site != "L_omega":
                out[site] = xr.DataArray(self.pop.values[site], dims=("draw",))
        if self.pop.spec.iiv_correlation:
            chol = self.pop.values["L_omega"]
            iiv = list(self.pop.spec.iiv)
            out["omega_corr"] = xr.DataArray(chol @ np.swapaxes(chol, -1, -2),
                                             dims=("draw", "iiv", "iiv_"),
                                             coords={"iiv": iiv, "iiv_": iiv})
        return out

    def attrs(self, *, seed, solver) -> dict:
        fixed = json.dumps(self.pop.fixed) if self.pop.fixed else "{}"
        return {"model": self.model.name, "time_unit": self.model.time_unit, "seed": seed,
                "source": self.pop.kind, "solver": solver, "fixed_parameters": fixed}

    def warn_failures(self):
        if self.failed:
            total = len(self.templates) * self.pop.n_draws * self.subjects.table.shape[0]
            warnings.warn(
                f"the solve failed for {self.failed} of {total} (regimen, draw, subject) "
                f"simulations; their outputs are NaN and solver_failed marks them. First: "
                f"{self.first_failure}. Try a stiff method, looser tolerances or a larger "
                "Solver(max_steps=...)", RuntimeWarning, stacklevel=3)


def _variable_names(model, spec, outputs, errors, subjects) -> dict:
    """Result variable names: outputs as named, ``<output>_obs``, parameters and covariates by
    name (prefixed ``param_`` / ``cov_`` only where a name is already taken)."""
    taken = set(outputs) | {"solver_failed", "covariate_row"}
    obs = {o: f"{o}_obs" for o in outputs if o in errors}
    taken |= set(obs.values())
    params = {}
    for e in spec.estimated:
        params[e.name] = e.name if e.name not in taken else f"param_{e.name}"
        taken.add(params[e.name])
    covariates = {}
    for column in dict.fromkeys([*model.covariate_names, *map(str, subjects.table.columns)]):
        covariates[column] = column if column not in taken else f"cov_{column}"
        taken.add(covariates[column])
    return {"obs": obs, "params": params, "covariates": covariates}


# -- reduce and concatenate over subjects ------------------------------------------------------

def _reduced(reduce, piece: xr.Dataset, keep: list[str], m: int) -> xr.Dataset:
    out = reduce(piece)
    if not isinstance(out, xr.Dataset):
        raise ArgumentTypeError(f"reduce= must return an xarray.Dataset, got {type(out).__name__}")
    for name, var in out.data_vars.items():
        if "subject" not in var.dims or var.sizes["subject"] != m:
            raise ParameterError(f"reduce= returned variable {name!r} with dims {var.dims} "
                             f"{dict(var.sizes)}; every variable must keep all {m} subjects of "
                             "the chunk along 'subject' (per-subject endpoints)")
    for name in keep:
        if name not in out:
            out[name] = piece[name]
    return out


class _Gather:
    """Concatenates per-chunk Datasets over ``subject`` into arrays allocated once."""

    def __init__(self, n: int):
        self.n = n
        self.first: xr.Dataset | None = None
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, piece: xr.Dataset, start: int):
        if self.first is None:
            self.first = piece
            for name, var in piece.data_vars.items():
                shape = tuple(self.n if d == "subject" else s for d, s in var.sizes.items())
                self.arrays[name] = np.empty(shape, dtype=var.dtype)
        for name, var in piece.data_vars.items():
            axis = var.dims.index("subject")
            where = (slice(None),) * axis + (slice(start, start + var.sizes["subject"]),)
            self.arrays[name][where] = var.values

    def result(self) -> xr.Dataset:
        first = self.first
        coords = {k: v for k, v in first.coords.items() if "subject" not in v.dims}
        coords["subject"] = np.arange(self.n)
        data = {name: (var.dims, self.arrays[name], var.attrs)
                for name, var in first.data_vars.items()}
        return xr.Dataset(data, coords=coords, attrs=dict(first.attrs))
