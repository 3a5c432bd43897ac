"""Dose selection: which candidate regimen meets an efficacy target within a safety limit.

``select_dose(source, candidates, efficacy=Target(...), safety=Limit(...), model=...)``:

1. each candidate (dose level, number of infusions, interval, ... — the keywords of a regimen
   builder, `cellpkpd.regimens.msc_ifna_monotherapy` by default) becomes a `Regimen`;
2. one virtual population (`cellpkpd.simulate_population`) receives every candidate — the same
   subjects and parameter draws for all, so candidates differ only by the regimen;
3. each criterion's `Event` is evaluated per virtual subject, chunk by chunk;
4. per draw, the probability of an event is the fraction of that draw's subjects with it; the
   table reports its median and equal-tailed credible interval over draws (and the mean, the
   posterior-predictive probability);
5. a criterion is **met** when at least ``confidence`` of the draws satisfy it: P(event) ≥
   the target for efficacy, ≤ the limit for safety. The default confidence 0.5 asks the median
   to satisfy it; ask more (e.g. ``Limit(..., confidence=0.8)``: "P(TI) ≤ 0.3 with 80%
   posterior probability", an overdose-control rule) for a stricter decision.

**Recommendation rule** (``rule``):

* ``"lowest"`` (default): among the candidates that meet every criterion, the least intensive
  one — the smallest cumulative dose (``dose × infusions`` when the candidates have those
  fields, else ``dose``, else the order given; or the column named by ``order_by``). This is
  the minimum effective dose that is acceptably safe, the usual aim of dose optimisation: the
  efficacy target is reached with the most safety margin. Ties go to the higher efficacy,
  then to the order given.
* ``"most_effective"``: among those candidates, the one with the highest median probability of
  the first efficacy event; ties go to the less intensive.

When no candidate meets every criterion, ``recommended`` is None, ``message`` says which
criteria failed where, and a `UserWarning` is issued: there is no fallback choice.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from .endpoints import recist
from .endpoints.orr import RECIST_RESPONDERS
from .errors import ArgumentTypeError, ParameterError
from .regimens import Regimen, msc_ifna_monotherapy
from .trial_simulation import (
    CREDIBLE,
    SUBJECT_DIMS,
    _check_credible,
    _nearest_times,
    _observed,
    dose_times,
    draw_probabilities,
    measured_sld,
    msc_intolerance,
    probability_summary,
)  # fmt: skip
from .virtual_population import simulate_population

RULES = ("lowest", "most_effective")
STATISTICS = ("max", "min", "mean", "auc", "last")


# -- events: per-subject clinical events read from a simulated population ---------------------

@dataclass(frozen=True)
class Event:
    """A per-subject event. ``fn(population, regimens)`` takes a chunk of a simulated
    population (dims ``regimen``, ``draw``, ``subject``, ``time``) and the candidate regimens by
    name, and returns a bool DataArray over ``(regimen, draw, subject)`` (NaN for a subject
    that cannot be evaluated). ``times``: output times it needs on the grid; ``outputs``: the
    outputs it reads (None: all); ``observed``: it reads residual-error observations."""

    name: str
    fn: Callable[[xr.Dataset, Mapping[str, Regimen]], xr.DataArray]
    times: tuple[float, ...] = ()
    outputs: tuple[str, ...] | None = None
    observed: bool = False
    description: str = ""

    def __post_init__(self):
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise ParameterError(f"Event name must be an identifier (letters, digits, _), got "
                             f"{self.name!r}; it names the table's columns")

    def __call__(self, population: xr.Dataset, regimens: Mapping[str, Regimen]):
        flags = self.fn(population, regimens)
        if not isinstance(flags, xr.DataArray):
            raise ArgumentTypeError(f"event {self.name!r} returned {type(flags).__name__}; it must "
                            "return an xarray.DataArray over (regimen, draw, subject)")
        extra = set(flags.dims) - set(SUBJECT_DIMS)
        if extra or not {"draw", "subject"} <= set(flags.dims):
            raise ParameterError(f"event {self.name!r} returned dims {flags.dims}; it must reduce "
                             "the time dim and keep (regimen, draw, subject)")
        return flags.astype(np.float64)  # every chunk the same dtype, NaN allowed


def _check_output_statistic(output: str, statistic: str, within) -> tuple | None:
    if not isinstance(output, str):
        raise ArgumentTypeError(f"output must be an output name, got {output!r}")
    if statistic not in STATISTICS:
        raise ParameterError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    if within is None:
        return None
    lo, hi = (float(x) for x in within)
    if not lo < hi:
        raise ParameterError(f"within must be (start, stop) with start < stop, got {within!r}")
    return lo, hi


def _statistic(values: xr.DataArray, statistic: str) -> xr.DataArray:
    if statistic == "auc":
        return values.integrate("time")
    if statistic == "last":
        return values.isel(time=-1, drop=True)
    return getattr(values, statistic)("time", skipna=False)


def _threshold_event(output, threshold, statistic, within, observed, name, above: bool):
    window = _check_output_statistic(output, statistic, within)
    if not np.isfinite(threshold):
        raise ParameterError(f"threshold must be finite, got {threshold!r}")
    word = "gt" if above else "lt"
    label = name or f"{output}_{statistic}_{word}_{threshold:g}".replace(".", "p").replace(
        "-", "m").replace("+", "")

    def fn(population, regimens):
        values = _observed(population, output) if observed else population[output]
        if window is not None:
            values = values.sel(time=slice(*window))
        stat = _statistic(values, statistic)
        flags = stat > threshold if above else stat < threshold
        return flags.where(np.isfinite(stat))

    relation = ">" if above else "<"
    return Event(label, fn, times=window or (), outputs=(output,), observed=observed,
                 description=f"{statistic}({output}) {relation} {threshold:g}"
                 + (f" over days {window[0]:g}–{window[1]:g}" if window else ""))


def exceeds(output: str, threshold: float, *, statistic: str = "max", within=None,
            observed: bool = False, name: str | None = None) -> Event:
    """The ``statistic`` (``max``, ``min``, ``mean``, ``auc`` — trapezoidal, in unit × time —
    or ``last``) of ``output`` over the time window ``within`` (days; default: the whole
    simulation) is above ``threshold`` (output unit). E.g. exposure above a threshold,
    ``exceeds("ifna_serum", 5.0)``, or ``exceeds("il6_serum", 40.0)`` for P(IL-6 > 40 pg/mL).
    ``observed`` uses the residual-error observations instead of the predictions."""
    return _threshold_event(output, threshold, statistic, within, observed, name, above=True)


def falls_below(output: str, threshold: float, *, statistic: str = "min", within=None,
                observed: bool = False, name: str | None = None) -> Event:
    """Like `exceeds`, for a ``statistic`` below ``threshold`` (e.g. a nadir)."""
    return _threshold_event(output, threshold, statistic, within, observed, name, above=False)


def best_response(at_least: str = "PR", *, output: str = "sld", every: float = 42.0,
                  origin: float | None = None, observed: bool = True) -> Event:
    """Confirmed RECIST 1.1 best overall response at least ``at_least`` (``"PR"``: CR or PR;
    ``"CR"``) from ``output`` (SLD, mm) assessed every ``every`` days from ``origin`` (default:
    each regimen's first dose, the baseline) to the end of the simulation
    (`cellpkpd.endpoints.recist`). ``observed``: with residual error (the default, as
    measured; a negative draw is reported as 0 mm, `cellpkpd.trial_simulation.measured_sld`)."""
    wanted = {"PR": set(RECIST_RESPONDERS), "CR": {"CR", "iCR"}}
    if at_least not in wanted:
        raise ParameterError(f"at_least must be 'PR' or 'CR', got {at_least!r}")
    if not (np.isfinite(every) and every > 0):
        raise ParameterError(f"every must be a positive number of days, got {every!r}")

    def fn(population, regimens):
        values = (measured_sld(_observed(population, output)) if observed
                  else population[output])
        parts = []
        for name in population["regimen"].values:
            start = origin if origin is not None else min(d.time for d in regimens[name].doses)
            times = np.arange(start, float(population["time"].values[-1]) + 1e-9, every)
            index = _nearest_times(population, times)
            sld = values.sel(regimen=name).isel(time=index).transpose(..., "time")
            flat = sld.values.reshape(-1, times.size)
            hits = np.full(flat.shape[0], np.nan)
            for i, series in enumerate(flat):
                if np.isfinite(series).all():
                    hits[i] = recist(times - start, series).best_response in wanted[at_least]
            dims = sld.dims[:-1]
            parts.append(xr.DataArray(hits.reshape(sld.shape[:-1]), dims=dims,
                                      coords={d: sld[d] for d in dims if d in sld.coords}))
        return xr.concat(parts, dim="regimen").assign_coords(regimen=population["regimen"])

    return Event(f"best_response_{at_least.lower()}", fn, outputs=(output,), observed=observed,
                 description=f"confirmed RECIST 1.1 best response ≥ {at_least} "
                 f"(assessments every {every:g} days)")


def intolerance(*, compartment: str = "msc_blood", **rule) -> Event:
    """MSC-IFNα treatment intolerance (the protocol rule on CTCAE grade ≥ 3 lymphocyte or
    neutrophil count decreased, `cellpkpd.trial_simulation.msc_intolerance`) after any of the
    regimen's doses into ``compartment``; ``rule``: keywords of
    `cellpkpd.trial_simulation.intolerance_flags`."""

    def fn(population, regimens):
        times = {name: dose_times(regimens[name], compartment)
                 for name in population["regimen"].values}
        return msc_intolerance(population, times, **rule)

    return Event("ti", fn, outputs=("cd4", "cd8", "nk", "anc"),
                 description="treatment intolerance (grade ≥ 3 lab event ≥ 7 days within 28 "
                 "days of an infusion)")


def _as_event(event) -> Event:
    if isinstance(event, Event):
        return event
    if callable(event):
        return Event(getattr(event, "__name__", "event"), event)
    raise ArgumentTypeError(f"an efficacy/safety criterion needs an Event (e.g. exceeds(...), "
                    f"best_response(), intolerance()) or a callable, got {event!r}")


def _check_probability(kind: str, value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ParameterError(f"{kind} {name} must be a probability in [0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class _Criterion:
    event: Event
    probability: float
    confidence: float = 0.5

    def __post_init__(self):
        name = type(self).__name__
        object.__setattr__(self, "event", _as_event(self.event))
        _check_probability(name, self.probability, "probability")
        if not 0 < _check_probability(name, self.confidence, "confidence"):
            raise ParameterError(f"{name} confidence must be > 0")


@dataclass(frozen=True)
class Target(_Criterion):
    """Efficacy target: P(``event``) ≥ ``probability``, met when at least ``confidence`` of the
    parameter draws satisfy it."""

    kind = "efficacy"

    def satisfied(self, p: np.ndarray) -> np.ndarray:
        return p >= self.probability


@dataclass(frozen=True)
class Limit(_Criterion):
    """Safety limit: P(``event``) ≤ ``probability``, met when at least ``confidence`` of the
    parameter draws satisfy it."""

    kind = "safety"

    def satisfied(self, p: np.ndarray) -> np.ndarray:
        return p <= self.probability


def _criteria(efficacy, safety) -> tuple:
    def as_tuple(value, cls, argument):
        items = (value,) if isinstance(value, Target | Limit) else tuple(value or ())
        if not items:
            raise ParameterError(f"{argument} is empty: give at least one {cls.__name__}")
        for item in items:
            if not isinstance(item, cls):
                raise ArgumentTypeError(f"{argument} takes {cls.__name__}(event, probability) "
                                f"objects, got {item!r}")
        return items

    criteria = as_tuple(efficacy, Target, "efficacy") + as_tuple(safety, Limit, "safety")
    names = [c.event.name for c in criteria]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ParameterError(f"event name(s) {duplicated} are used by more than one criterion; "
                         "give each event its own name (name=...)")
    return criteria


# -- candidates -------------------------------------------------------------------------------

def _candidate_name(fields: Mapping) -> str:
    if "name" in fields:
        return str(fields["name"])
    return ", ".join(f"{k}={v:g}" if isinstance(v, int | float) else f"{k}={v}"
                     for k, v in fields.items())


def candidate_regimens(candidates, builder: Callable[..., Regimen] = msc_ifna_monotherapy
                       ) -> tuple[pd.DataFrame, dict[str, Regimen]]:
    """The candidates as a table (one row each, named by ``candidate``) and their regimens.

    ``candidates``: a DataFrame or a list of dicts whose fields are keywords of ``builder``
    (plus an optional ``name``), e.g. ``[{"dose": 2e6, "infusions": 2, "interval": 28}]``; or
    `Regimen` objects (a list, or a dict name → Regimen).
    """
    if isinstance(candidates, Regimen):
        candidates = [candidates]
    if isinstance(candidates, Mapping) and all(isinstance(v, Regimen)
                                               for v in candidates.values()):
        items = list(candidates.items())
    elif isinstance(candidates, pd.DataFrame):
        items = candidates.to_dict("records")
    elif isinstance(candidates, Sequence) and not isinstance(candidates, str):
        items = list(candidates)
    else:
        raise ArgumentTypeError("candidates must be a DataFrame, a list of dicts of regimen "
                                "fields, or "
                        f"Regimen objects, got {type(candidates).__name__}")
    if not items:
        raise ParameterError("candidates is empty: give at least one candidate, e.g. "
                         "[{'dose': 2e6, 'infusions': 1, 'interval': 28}]")
    accepted = set(inspect.signature(builder).parameters)
    rows, regimens = [], {}
    for i, item in enumerate(items):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Regimen):
            name, reg, fields = str(item[0]), item[1], {}
        elif isinstance(item, Regimen):
            name, reg, fields = item.name or f"candidate {i + 1}", item, {}
        elif isinstance(item, Mapping):
            fields = {k: v for k, v in item.items() if k != "name"}
            unknown = sorted(set(fields) - accepted)
            if unknown:
                raise ParameterError(f"candidate {i + 1} has unknown field(s) {unknown}; "
                                 f"{getattr(builder, '__name__', 'the builder')} accepts "
                                 f"{sorted(accepted)} (and 'name')")
            try:
                reg = builder(**fields)
            except (TypeError, ValueError) as err:
                raise ParameterError(f"candidate {i + 1} ({dict(item)}): {err}") from err
            name = _candidate_name(item)
        else:
            raise ArgumentTypeError(f"candidate {i + 1} is {item!r}; give a dict of regimen "
                                    "fields or "
                            "a Regimen")
        if name in regimens:
            raise ParameterError(f"two candidates are named {name!r}; give each a unique 'name'")
        regimens[name] = reg
        rows.append({"candidate": name, **fields})
    return pd.DataFrame(rows), regimens


def _default_times(regimens: Mapping[str, Regimen], follow_up: float, events) -> np.ndarray:
    starts = [d.time for r in regimens.values() for d in r.doses]
    ends = [d.time + (d.count - 1) * (d.every or 0.0) for r in regimens.values()
            for d in r.doses]
    grid = np.arange(np.floor(min(starts)) - 1.0, np.ceil(max(ends) + follow_up) + 0.5, 1.0)
    extra = [t for e in events for t in e.times]
    return np.unique(np.concatenate([grid, np.asarray(extra, dtype=np.float64)]))


# -- the decision ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DoseSelection:
    """The result of `select_dose`.

    ``table``: one row per candidate — its fields, then per criterion event ``<name>``:
    ``p_<name>`` (median over draws), ``p_<name>_lower``/``_upper`` (credible interval),
    ``p_<name>_mean``, ``p_<name>_draws_ok`` (fraction of draws satisfying the criterion) and
    ``meets_<name>``; ``meets_efficacy``, ``meets_safety``, ``recommended``.
    ``per_draw``: the per-draw probabilities (dims ``candidate``, ``draw``).
    """

    table: pd.DataFrame
    recommended: str | None
    message: str
    rule: str
    credible: float
    criteria: tuple = field(repr=False)
    per_draw: xr.Dataset = field(repr=False)

    @classmethod
    def from_events(cls, events: xr.Dataset, candidates: pd.DataFrame, *, efficacy, safety,
                    credible: float = CREDIBLE, rule: str = "lowest",
                    order_by: str | None = None) -> DoseSelection:
        """The decision from per-subject event flags: ``events`` holds one variable per
        criterion event name, dims ``(regimen, draw, subject)``, with ``regimen`` labelled by
        ``candidates["candidate"]``."""
        credible = _check_credible(credible)
        if rule not in RULES:
            raise ParameterError(f"rule must be one of {RULES}, got {rule!r}")
        criteria = _criteria(efficacy, safety)
        table = candidates.reset_index(drop=True).copy()
        names = table["candidate"].tolist()
        per_draw = {}
        for crit in criteria:
            key = crit.event.name
            if key not in events:
                raise ParameterError(f"events has no variable {key!r} for criterion {crit}")
            flags = events[key].sel(regimen=names)
            p = draw_probabilities(flags).transpose("regimen", "draw")
            per_draw[key] = p.rename(regimen="candidate")
            summary = probability_summary(flags, credible=credible)
            ok = np.where(np.isnan(p.values), False, crit.satisfied(p.values)).mean(axis=1)
            table[f"p_{key}"] = summary["median"].to_numpy()
            table[f"p_{key}_lower"] = summary["lower"].to_numpy()
            table[f"p_{key}_upper"] = summary["upper"].to_numpy()
            table[f"p_{key}_mean"] = summary["mean"].to_numpy()
            table[f"p_{key}_draws_ok"] = ok
            table[f"meets_{key}"] = ok >= crit.confidence - 1e-12
        for kind in ("efficacy", "safety"):
            columns = [f"meets_{c.event.name}" for c in criteria if c.kind == kind]
            table[f"meets_{kind}"] = table[columns].all(axis=1)
        table.attrs.update(credible=credible, rule=rule)
        chosen, message = _recommend(table, criteria, rule, order_by)
        table["recommended"] = table["candidate"] == chosen
        if chosen is None:
            warnings.warn(message, UserWarning, stacklevel=2)
        return cls(table, chosen, message, rule, credible, criteria,
                   xr.Dataset(per_draw))

    def plot(self):
        """One panel per criterion, stacked over the same candidates: median probability
        (point) and credible interval (bar) over draws, the target/limit (dashed); a filled
        point meets the criterion, an open one does not; the recommended candidate is shaded.
        Returns the matplotlib Figure."""
        import textwrap

        import matplotlib.pyplot as plt

        n, k = len(self.criteria), len(self.table)
        width = max(6.0, 1.1 * k + 2.0)
        fig, axes = plt.subplots(n, 1, figsize=(width, 2.4 * n + 1.4), sharex=True,
                                 squeeze=False)
        x = np.arange(k)
        chosen = self.table.index[self.table["recommended"]]
        for ax, crit in zip(axes[:, 0], self.criteria, strict=True):
            key = crit.event.name
            mid = self.table[f"p_{key}"].to_numpy()
            err = np.abs(np.vstack([mid - self.table[f"p_{key}_lower"],
                                    self.table[f"p_{key}_upper"] - mid]))
            color = "tab:blue" if crit.kind == "efficacy" else "tab:red"
            meets = self.table[f"meets_{key}"].to_numpy()
            ax.errorbar(x, mid, yerr=err, fmt="none", ecolor=color, capsize=4,
                        label=f"median, {100 * self.credible:g}% CrI over draws")
            ax.scatter(x[meets], mid[meets], color=color, zorder=3, label="meets")
            ax.scatter(x[~meets], mid[~meets], facecolor="white", edgecolor=color, zorder=3,
                       label="does not meet")
            relation = "≥" if crit.kind == "efficacy" else "≤"
            ax.axhline(crit.probability, color="k", linestyle="--", linewidth=1,
                       label=f"{crit.kind}: P {relation} {crit.probability:g}"
                       + (f" in ≥ {100 * crit.confidence:g}% of draws"
                          if crit.confidence != 0.5 else ""))
            for c in chosen:
                ax.axvspan(c - 0.4, c + 0.4, color="gold", alpha=0.3, label="recommended")
            ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel("probability")
            ax.set_title(textwrap.fill(f"{crit.kind}: P({crit.event.description or key})",
                                       int(9 * width)), fontsize=9)
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        axes[-1, 0].set_xticks(x, [str(c).replace(", ", "\n")
                                   for c in self.table["candidate"]], fontsize=8)
        fig.suptitle(textwrap.fill(self.message, int(11 * width)), fontsize=9)
        fig.tight_layout()
        return fig

    def __str__(self) -> str:
        return self.message


def _intensity(table: pd.DataFrame, order_by: str | None) -> np.ndarray:
    if order_by is not None:
        if order_by not in table:
            raise ParameterError(f"order_by={order_by!r} is not a candidate field; use one of "
                             f"{[c for c in table.columns if not c.startswith(('p_', 'meets'))]}")
        return table[order_by].to_numpy(dtype=np.float64)
    if "dose" in table:
        dose = table["dose"].to_numpy(dtype=np.float64)
        if "infusions" in table:
            return dose * table["infusions"].to_numpy(dtype=np.float64)
        return dose
    return np.arange(len(table), dtype=np.float64)


def _recommend(table: pd.DataFrame, criteria, rule: str, order_by) -> tuple[str | None, str]:
    ok = table["meets_efficacy"] & table["meets_safety"]
    if not ok.any():
        lines = [f"no candidate meets every criterion ({rule!r} rule): no recommendation"]
        for crit in criteria:
            met = table.loc[table[f"meets_{crit.event.name}"], "candidate"].tolist()
            lines.append(f"{crit.kind} {crit.event.name}: met by {met or 'none'}")
        return None, "; ".join(lines)
    efficacy = table[f"p_{next(c for c in criteria if c.kind == 'efficacy').event.name}"]
    intensity = _intensity(table, order_by)
    order = np.arange(len(table))
    if rule == "lowest":
        keys = (order, -efficacy.to_numpy(), intensity)
    else:
        keys = (order, intensity, -efficacy.to_numpy())
    ranked = [i for i in np.lexsort(keys) if ok.iloc[i]]
    chosen = table["candidate"].iloc[ranked[0]]
    what = ("the least intensive candidate meeting every criterion" if rule == "lowest" else
            "the most effective candidate meeting every criterion")
    return chosen, f"recommended: {chosen} ({what})"


def select_dose(source, candidates, *, efficacy, safety, model=None,
                regimen: Callable[..., Regimen] = msc_ifna_monotherapy, n: int = 200,
                seed: int = 0, times=None, follow_up: float = 42.0, iiv=None,
                covariates=None, draws=None, solver=None, chunk=None,
                credible: float = CREDIBLE, rule: str = "lowest",
                order_by: str | None = None) -> DoseSelection:
    """Choose a dose (regimen) among ``candidates`` by simulation (module docstring).

    Parameters
    ----------
    source : Fit, "defaults" or dict
        Parameter uncertainty, as `cellpkpd.simulate_population`: a fit's posterior, the model
        defaults (one draw: no uncertainty), or ``{param: numpyro distribution}`` priors.
    candidates : DataFrame, list of dicts, or Regimens
        Dose level, number of infusions, interval...: keywords of ``regimen`` (see
        `candidate_regimens`).
    efficacy : Target or list of Target
        E.g. ``Target(best_response("PR"), 0.3)``: P(confirmed response) ≥ 0.3;
        ``Target(exceeds("ifna_serum", 5.0), 0.8)``: exposure above a threshold.
    safety : Limit or list of Limit
        E.g. ``Limit(intolerance(), 0.3)``: P(TI) ≤ 0.3;
        ``Limit(exceeds("il6_serum", 40.0), 0.1)``: P(IL-6 > 40 pg/mL) ≤ 0.1.
    model : Model or str
        The model; defaults to the fit's when ``source`` is a `Fit` made in this session.
    regimen : callable
        Builds a `Regimen` from a candidate's fields.
    n, seed : int
        Virtual subjects per draw; the seed (same seed, same result).
    times : array, optional
        Output times (days). Default: daily from the day before the first dose to
        ``follow_up`` days after the last, plus the times the events need.
    iiv, covariates, draws, solver, chunk
        Passed to `cellpkpd.simulate_population`.
    credible : float
        Width of the credible intervals (0.9: 5th–95th percentiles over draws).
    rule, order_by : str
        The recommendation rule (module docstring) and the candidate field that orders
        intensity for ``"lowest"``.

    Returns
    -------
    DoseSelection
        ``.table``, ``.recommended`` (None when no candidate qualifies), ``.message``,
        ``.plot()``.
    """
    credible = _check_credible(credible)
    if rule not in RULES:
        raise ParameterError(f"rule must be one of {RULES}, got {rule!r}")
    criteria = _criteria(efficacy, safety)
    table, regimens = candidate_regimens(candidates, regimen)
    if order_by is not None and order_by not in table:
        raise ParameterError(f"order_by={order_by!r} is not a candidate field; use one of "
                         f"{[c for c in table.columns]}")
    if model is None:
        record = getattr(source, "_record", None)
        if record is None:
            raise ParameterError("select_dose needs model= (a Model or a model name) unless "
                             "source is a Fit made in this session")
        model = record.model
    events = [c.event for c in criteria]
    grid = _default_times(regimens, follow_up, events) if times is None else times
    needed = [e.outputs for e in events]
    outputs = None if any(o is None for o in needed) else sorted({o for e in needed for o in e})

    def reduce(chunk: xr.Dataset) -> xr.Dataset:
        return xr.Dataset({e.name: e(chunk, regimens) for e in events})

    options = {k: v for k, v in dict(iiv=iiv, covariates=covariates, draws=draws,
                                     solver=solver, chunk=chunk).items() if v is not None}
    flags = simulate_population(model, source, regimens, n, seed, times=grid, outputs=outputs,
                                residual_error=any(e.observed for e in events), reduce=reduce,
                                **options)
    return DoseSelection.from_events(flags, table, efficacy=efficacy, safety=safety,
                                     credible=credible, rule=rule, order_by=order_by)
