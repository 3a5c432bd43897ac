"""What a population fit estimates, resolved once on the host from the user's options.

Everything here is checked against the model and the data before anything compiles, and every
mistake names the parameter, covariate, output or row and the fix.

Default priors (used unless ``priors=`` names the site):

- typical value of a positive parameter: ``LogNormal(log(default), 2)``, i.e. within a factor
  ~50 of the model's default with 95% probability;
- of a parameter bounded on (lo, hi) (fractions: (0, 1)): logit-normal, ``Normal(logit of the
  default, 1.5)`` on the scaled-logit scale;
- of an unbounded parameter: ``Normal(default, 10 * max(|default|, 1))``;
- IIV standard deviation ``omega_<p>`` (on the log, logit or natural scale of p):
  ``HalfNormal(1)``; correlations (``iiv_correlation=True``): ``LKJ(2)``;
- covariate effect ``beta_<p>_<COV>``: ``Normal(0, 1)``;
- residual error: ``HalfNormal(1)`` for proportional and log-normal components (a 100% CV);
  ``HalfNormal(SD of the output's observed DVs)`` for additive components.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpyro.distributions as dist

from ..errors import ParameterError

ERROR_KINDS = ("additive", "proportional", "combined", "lognormal")
COVARIATE_FORMS = ("power", "exponential", "linear", "categorical")


@dataclass(frozen=True)
class Estimated:
    """One estimated typical value: its column in the model's parameter vector and its scale
    (``log``, ``logit`` with bounds, or ``identity``) on which IIV and covariates act."""

    name: str
    column: int
    default: float
    scale: str
    lower: float = 0.0
    upper: float = 1.0


@dataclass(frozen=True)
class CovariateEffect:
    """``beta`` times g(covariate) on the parameter's scale. ``level`` is set for one level
    of a categorical covariate (the indicator of that level)."""

    param: str
    covariate: str
    form: str
    reference: float
    level: float | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        base = f"beta_{self.param}_{self.covariate}"
        return base if self.level is None else f"{base}_{self.label}"


@dataclass(frozen=True)
class ErrorModel:
    output: str
    index: int
    kind: str

    @property
    def sigma_names(self) -> tuple[str, ...]:
        if self.kind == "combined":
            return (f"sigma_add_{self.output}", f"sigma_prop_{self.output}")
        return (f"sigma_{self.output}",)


@dataclass(frozen=True, eq=False)
class PopulationSpec:
    model_name: str
    param_names: tuple[str, ...]
    estimated: tuple[Estimated, ...]
    iiv: tuple[str, ...]
    iiv_correlation: bool
    effects: tuple[CovariateEffect, ...]
    errors: tuple[ErrorModel, ...]
    priors: dict = field(default_factory=dict)

    @property
    def estimated_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.estimated)

    @property
    def iiv_positions(self) -> tuple[int, ...]:
        names = self.estimated_names
        return tuple(names.index(p) for p in self.iiv)

    @property
    def sigma_names(self) -> tuple[str, ...]:
        return tuple(s for e in self.errors for s in e.sigma_names)

    @property
    def population_names(self) -> tuple[str, ...]:
        """Every scalar population quantity, in summary order."""
        corr = ()
        if self.iiv_correlation:
            corr = tuple(f"corr_{a}_{b}" for i, a in enumerate(self.iiv)
                         for b in self.iiv[i + 1:])
        return (self.estimated_names + tuple(e.name for e in self.effects)
                + tuple(f"omega_{p}" for p in self.iiv) + corr + self.sigma_names)

    def describe(self) -> dict:
        """A JSON-able record of the specification (priors by their repr)."""
        return {
            "model": self.model_name,
            "estimated": [{"name": e.name, "scale": e.scale, "default": e.default}
                          for e in self.estimated],
            "iiv": list(self.iiv),
            "iiv_correlation": self.iiv_correlation,
            "covariates": [{"param": c.param, "covariate": c.covariate, "form": c.form,
                            "reference": c.reference, "level": c.level, "label": c.label}
                           for c in self.effects],
            "error": {e.output: e.kind for e in self.errors},
            "priors": {k: repr(v) for k, v in self.priors.items()},
        }


def build_spec(model, dataset, observed_outputs, *, iiv, iiv_correlation, covariates, error,
               fixed, priors, estimate, dv_scale) -> tuple[PopulationSpec, dict]:
    """The spec, and the fixed values (name -> value) that replace the model's defaults."""
    names = model.param_names
    fixed = dict(fixed or {})
    _known(model, fixed, "fixed")
    for name, value in fixed.items():
        why = _param(model, name).check(float(value))
        if why:
            raise ParameterError(f"fixed={{{name!r}: {value}}} {why}")
    if estimate is None:
        to_estimate = [n for n in names if n not in fixed]
    else:
        _known(model, {n: None for n in estimate}, "estimate")
        clash = sorted(set(estimate) & set(fixed))
        if clash:
            raise ParameterError(f"parameter(s) {clash} are both in estimate= and fixed=; "
                                 "keep each in one of them")
        to_estimate = [n for n in names if n in set(estimate)]
    if not to_estimate:
        raise ParameterError("no parameter is left to estimate; remove some from fixed=")

    estimated = tuple(_estimated(model, n) for n in to_estimate)
    est_names = {e.name for e in estimated}

    iiv_priors = {}
    if isinstance(iiv, Mapping):
        iiv_priors = {f"omega_{k}": _as_scale_prior(k, v) for k, v in iiv.items() if v is not None}
        iiv_names = list(iiv)
    else:
        iiv_names = list(iiv or ())
    for p in iiv_names:
        if p not in names:
            raise ParameterError(f"iiv names {p!r}, which is not a parameter of model "
                                 f"{model.name!r}; its parameters are {list(names)}")
        if p not in est_names:
            raise ParameterError(f"iiv names {p!r}, which is fixed; estimate its typical value "
                                 "(remove it from fixed=) or drop its IIV")
    if len(set(iiv_names)) != len(iiv_names):
        raise ParameterError(f"iiv lists a parameter twice: {iiv_names}")
    if iiv_correlation and len(iiv_names) < 2:
        raise ParameterError("iiv_correlation=True needs IIV on at least two parameters")
    iiv_names = tuple(e.name for e in estimated if e.name in iiv_names)  # model order

    effects = tuple(_covariate_effects(model, dataset, covariates or {}, est_names))
    errors = tuple(_error_models(model, observed_outputs, error or {}))

    default_priors = {}
    for e in estimated:
        default_priors[e.name] = _typical_prior(e)
    for c in effects:
        default_priors[c.name] = dist.Normal(0.0, 1.0)
    for p in iiv_names:
        default_priors[f"omega_{p}"] = dist.HalfNormal(1.0)
    for e in errors:
        for s in e.sigma_names:
            additive = s.startswith("sigma_add_") or e.kind == "additive"
            scale = float(dv_scale.get(e.output, 1.0)) if additive else 1.0
            default_priors[s] = dist.HalfNormal(scale)
    if iiv_correlation:
        default_priors["L_omega"] = dist.LKJCholesky(len(iiv_names), 2.0)
    user = dict(priors or {})
    unknown = sorted(set(user) - set(default_priors))
    if unknown:
        raise ParameterError(
            f"priors= names {unknown}, which the fit does not estimate; the estimated sites "
            f"are {sorted(default_priors)}")
    for k, v in user.items():
        if not isinstance(v, dist.Distribution):
            raise ParameterError(f"priors[{k!r}] must be a numpyro distribution, got {v!r}")
    all_priors = {**default_priors, **iiv_priors, **user}
    spec = PopulationSpec(
        model_name=model.name, param_names=tuple(names), estimated=estimated,
        iiv=iiv_names, iiv_correlation=bool(iiv_correlation), effects=effects, errors=errors,
        priors=all_priors,
    )
    return spec, {k: float(v) for k, v in fixed.items()}


def _param(model, name):
    return model.params[model.param_names.index(name)]


def _known(model, mapping, what):
    unknown = sorted(set(mapping) - set(model.param_names))
    if unknown:
        raise ParameterError(f"{what}= names {unknown}, which model {model.name!r} does not "
                             f"have; its parameters are {list(model.param_names)}")


def _estimated(model, name) -> Estimated:
    p = _param(model, name)
    column = model.param_names.index(name)
    lo, hi = p.bounds if p.bounds is not None else (None, None)
    if lo is not None and hi is not None:
        return Estimated(name, column, float(p.value), "logit", float(lo), float(hi))
    if p.positive:
        return Estimated(name, column, float(p.value), "log")
    return Estimated(name, column, float(p.value), "identity")


def _typical_prior(e: Estimated):
    if e.scale == "log":
        return dist.LogNormal(math.log(e.default), 2.0)
    if e.scale == "logit":
        frac = (e.default - e.lower) / (e.upper - e.lower)
        frac = min(max(frac, 1e-6), 1 - 1e-6)
        transforms = [dist.transforms.SigmoidTransform(),
                      dist.transforms.AffineTransform(e.lower, e.upper - e.lower)]
        return dist.TransformedDistribution(
            dist.Normal(math.log(frac / (1 - frac)), 1.5), transforms)
    return dist.Normal(e.default, 10.0 * max(abs(e.default), 1.0))


def _as_scale_prior(name, value):
    if isinstance(value, dist.Distribution):
        return value
    if isinstance(value, (int, float)) and value > 0:
        return dist.HalfNormal(float(value))
    raise ParameterError(f"iiv[{name!r}] must be a numpyro distribution for omega or a "
                         f"positive HalfNormal scale, got {value!r}")


def _covariate_effects(model, dataset, covariates, est_names):
    columns = set(dataset.covariate_columns)
    for param, entries in covariates.items():
        if param not in est_names:
            raise ParameterError(
                f"covariates names {param!r}, which is not an estimated parameter of model "
                f"{model.name!r}; estimated: {sorted(est_names)}")
        for entry in covariate_entries(entries):
            if not (isinstance(entry, (tuple, list)) and len(entry) in (2, 3)):
                raise ParameterError(
                    f"covariates[{param!r}] entry {entry!r} must be (COLUMN, form, reference), "
                    "e.g. ('WT', 'power', 70.0)")
            cov, form = entry[0], entry[1]
            ref = entry[2] if len(entry) == 3 else None
            if cov not in columns:
                raise ParameterError(
                    f"covariates[{param!r}] uses column {cov!r}, which the data do not have; "
                    f"covariate columns: {sorted(columns)}")
            if form not in COVARIATE_FORMS:
                raise ParameterError(f"covariates[{param!r}]: form {form!r} is not one of "
                                     f"{COVARIATE_FORMS}")
            values = baseline_covariate(dataset, cov)
            if form == "categorical":
                mapping = dataset.encodings.get(cov, {})
                labels = {code: str(label) for label, code in mapping.items()}
                levels = sorted(set(values.tolist()))
                if ref is None:
                    ref_code = levels[0]
                elif ref in mapping:
                    ref_code = mapping[ref]
                else:
                    ref_code = float(ref)
                if ref_code not in levels:
                    raise ParameterError(
                        f"covariates[{param!r}]: reference {ref!r} is not a level of {cov} "
                        f"(levels: {[labels.get(v, v) for v in levels]})")
                for level in levels:
                    if level != ref_code:
                        label = labels.get(level, _fmt(level))
                        yield CovariateEffect(param, cov, form, float(ref_code), float(level),
                                              label)
                continue
            if ref is None:
                ref = float(np.median(values))
            ref = float(ref)
            if form == "power":
                if not ref > 0 or np.any(values <= 0):
                    raise ParameterError(
                        f"covariates[{param!r}]: the power form needs {cov} > 0 and a "
                        f"reference > 0 (got reference {ref}, min {values.min()})")
            yield CovariateEffect(param, cov, form, ref)


def covariate_entries(entries) -> list:
    """One (COLUMN, form, reference) entry, or a list of them, as a list of tuples (an entry
    may be a list, as TOML writes it)."""
    if isinstance(entries, (tuple, list)) and entries and isinstance(entries[0], str):
        return [tuple(entries)]
    return [tuple(e) if isinstance(e, (tuple, list)) else e for e in entries]


def _fmt(v):
    return str(int(v)) if float(v).is_integer() else str(v)


def baseline_covariate(dataset, column) -> np.ndarray:
    """Each subject's first value of ``column`` (subject order)."""
    t = dataset.table
    first = t.groupby("ID", sort=False)[column].first()
    values = first.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        ids = list(first.index[bad])[:10]
        raise ParameterError(f"covariate {column} has no finite value for subject(s) {ids}; "
                             "fill it in the data")
    return values


def _error_models(model, observed, error):
    names = model.output_names
    unknown = sorted(set(error) - set(names))
    if unknown:
        raise ParameterError(f"error= names {unknown}, which are not outputs of model "
                             f"{model.name!r}; its outputs are {list(names)}")
    not_observed = sorted(set(error) - set(observed))
    if not_observed:
        raise ParameterError(f"error= names {not_observed}, which the data never observe; "
                             f"observed outputs: {list(observed)}")
    for name in observed:
        kind = error.get(name)
        if kind is None:
            declared = model.outputs[names.index(name)].error
            kind = declared.kind if declared is not None else "proportional"
        if kind not in ERROR_KINDS:
            raise ParameterError(f"error[{name!r}] = {kind!r} is not one of {ERROR_KINDS}")
        yield ErrorModel(name, names.index(name), kind)
