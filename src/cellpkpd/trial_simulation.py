"""Model-driven trial simulations: from a simulated virtual population to clinical endpoints and
trial operating characteristics, for the MSC-IFNα protocol (Arm 1, Arm 2 / phase 2) and the
NKG2D-CAR-NK trial.

Every simulation has two layers of randomness, kept apart:

* **parameter uncertainty** — each ``draw`` of the virtual population (posterior draws of a
  `Fit`, or prior draws) is one possible truth. The per-draw probability of an event is the
  fraction of that draw's virtual subjects with the event; its spread over draws is the
  credible interval (`probability_summary`);
* **trial sampling** — a simulated trial first picks one draw at random (uniformly), then its
  subjects at random, *with replacement*, from that draw's virtual subjects (the bootstrap of
  an infinite population). Given the draw, subjects are therefore independent with the draw's
  event fractions, so the design's exact formulas hold per draw.

The links from model outputs to clinical events are **assumptions**; each is stated in the
docstring of the function that makes it, and collected here:

1. Lab toxicity (CTCAE v5.0 lymphocyte and neutrophil count decreased) is graded from the
   model's error-free predicted counts on a daily grid, with the CTCAE module's rules; lab
   noise and the visit schedule are ignored. msc_ifna lymphocytes are
   ``cd4 + cd8 + nk + other_lymph``; neutrophils are ``anc``. Every grade ≥ 3 episode is taken
   as treatment-related.
2. RECIST 1.1 uses the simulated SLD *with* residual error at the assessments, a negative
   draw reported as 0 mm; non-target and new lesions are not modelled.
3. Death follows a Weibull distribution whose scale is multiplied by ``TSR^(−beta)``, TSR the
   predicted SLD ratio to baseline at a landmark (week 8), as in tumour-size/survival models
   (Claret 2009). Default values are placeholders, to be replaced by a fitted survival model.
4. CAR-NK grade ≥ 3 CRS (the DLT) is predicted serum IL-6 reaching ``il6_fold`` (10) × its
   baseline within 28 days, taken to stand for the ASTCT grade-3 signs (Lee 2019: fever with
   hypotension needing a vasopressor and/or hypoxia needing high-flow oxygen;
   `cellpkpd.endpoints.astct_crs_grade` grades the signs themselves). The threshold is an
   assumption with no source. Other DLTs (ICANS, cytopenias, infections) are not modelled.
5. CAR-NK serum M-protein for IMWG: the model's absolute M-protein (about 0.026 g/dL) is below
   IMWG's measurable-disease level (0.5 g/dL), so each virtual patient's serum M-protein is
   his own measurable baseline times the model's relative M-protein ``mprot(t)/mprot(0)``.
   Baselines are drawn per virtual subject (the same patient at every dose and draw) from
   `MPROTEIN_BASELINE`: log-normal, median 2.0 g/dL, log-SD 0.6, below 0.5 g/dL redrawn
   (trial eligibility needs measurable disease); an assumption for relapsed myeloma, with no
   fitted source. Urine M-protein is taken as 0 mg/24 h throughout (serum-measurable disease
   only), so VGPR/PR/MR are evaluable; immunofixation and marrow are not simulated, so CR and
   sCR are not evaluable and best responses stop at VGPR (ORR, ≥ PR, is unaffected). No
   residual error.

Duration of response (DOR), for responders only: from the first assessment of the confirmed
response (RECIST 1.1 CR/PR; IMWG ≥ PR, "the date of the initial test") to progression or death,
censored at the last assessment (`cellpkpd.endpoints.dor_times`); its Kaplan–Meier median
(`dor_summary`, and per simulated trial in `phase2_trials`). CAR-NK models no deaths, so its
DOR ends at the confirmed IMWG PD only.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from .endpoints import dor_times, imwg, kaplan_meier, pfs_times, recist
from .endpoints._checks import TOLERANCE
from .endpoints.ctcae import _cutoffs, ctcae_grade
from .endpoints.orr import IMWG_RESPONDERS, RECIST_RESPONDERS
from .errors import DataError, DataProblem, ParameterError
from .regimens import Regimen, msc_ifna_combination, msc_ifna_monotherapy, nkg2d_carnk
from .trials import PROTOCOL_DOSES, Arm1Result, arm1_from_population
from .virtual_population import simulate_population

CREDIBLE = 0.9
SUBJECT_DIMS = ("regimen", "draw", "subject")
IMWG_WEEKS = (2, 4, 8, 12, 16, 24, 28, 40, 52)


@dataclass(frozen=True)
class MProteinBaseline:
    """Per-patient serum M-protein baseline (g/dL) for IMWG (assumption 5 of the module
    docstring): log-normal with ``median`` and ``log_sd``, values below ``minimum`` (IMWG's
    measurable level) redrawn."""

    median: float = 2.0
    log_sd: float = 0.6
    minimum: float = 0.5

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if not (self.median > self.minimum > 0 and self.log_sd >= 0):
            raise ParameterError(f"MProteinBaseline needs median > minimum > 0 and log_sd ≥ 0, "
                                 f"got {self}; e.g. MProteinBaseline(2.0, 0.6, 0.5)")
        out = np.empty(0)
        while out.size < n:
            draw = self.median * np.exp(self.log_sd * rng.standard_normal(2 * n))
            out = np.concatenate([out, draw[draw >= self.minimum]])
        return out[:n]


MPROTEIN_BASELINE = MProteinBaseline()


# -- probabilities over draws ------------------------------------------------------------------

def _check_credible(credible: float) -> float:
    if not (isinstance(credible, float | int) and 0 < credible < 1):
        raise ParameterError(f"credible must lie in (0, 1), e.g. 0.9 for a 90% interval, "
                             f"got {credible!r}")
    return float(credible)


def draw_probabilities(flags: xr.DataArray) -> xr.DataArray:
    """Per draw, the fraction of virtual subjects with the event. ``flags`` is bool, or float
    with 1/0 and NaN for a subject that could not be evaluated (e.g. a failed solve), which is
    left out of its draw's denominator."""
    if "subject" not in flags.dims or "draw" not in flags.dims:
        raise DataError(DataProblem(f"the event flags have dims {flags.dims}, without 'draw' "
                                    "and 'subject'", "pass flags with dims (regimen,) draw, "
                                    "subject, as the simulators return them"))
    values = flags.astype(np.float64)
    bad = np.isfinite(values.values) & ~np.isin(values.values, (0.0, 1.0))
    if bad.any():
        raise DataError(DataProblem("event flags must be True/False (or NaN for a subject not "
                                    "evaluable), got values such as "
                                    f"{values.values[bad][:3].tolist()}",
                                    "pass booleans, or 1.0/0.0/NaN"))
    return values.mean("subject", skipna=True)


def probability_summary(flags: xr.DataArray, *, credible: float = CREDIBLE) -> pd.DataFrame:
    """Event probability per regimen with its credible interval over parameter draws.

    ``flags`` has dims ``(regimen, draw, subject)`` (``regimen`` optional). Columns: ``mean``
    (over draws: the posterior-predictive probability), ``median``, ``lower`` and ``upper``
    (equal-tailed ``credible`` interval of the per-draw probabilities, `numpy.quantile`'s
    linear rule), ``n_draws``, ``n_subjects`` and ``not_evaluable`` (subjects left out, over
    all draws). With one draw the interval collapses onto the point: it carries parameter
    uncertainty only, not the Monte Carlo error of a finite population.
    """
    credible = _check_credible(credible)
    if "regimen" not in flags.dims:
        flags = flags.expand_dims(regimen=["all"])
    per_draw = draw_probabilities(flags).transpose("regimen", "draw").values
    tail = (1.0 - credible) / 2.0
    missing = np.isnan(flags.astype(np.float64)).sum(("draw", "subject")).values
    return pd.DataFrame({
        "regimen": flags["regimen"].values,
        "mean": np.nanmean(per_draw, axis=1),
        "median": np.nanquantile(per_draw, 0.5, axis=1),
        "lower": np.nanquantile(per_draw, tail, axis=1),
        "upper": np.nanquantile(per_draw, 1.0 - tail, axis=1),
        "n_draws": per_draw.shape[1],
        "n_subjects": flags.sizes["subject"],
        "not_evaluable": missing.astype(int),
    })


# -- CTCAE grade >= 3 lab episodes and the MSC-IFNα treatment-intolerance rule ------------------

def grade_onsets(times, counts, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Onset and duration of every episode of ``counts < threshold`` on the grid ``times``,
    vectorised over the leading axes of ``counts`` (``(..., n_times)``), with the rules of
    `cellpkpd.endpoints.grade_episodes` (linear interpolation of the crossing; an episode under
    way at the first/last grid point starts/ends there). Both arrays have the shape of
    ``counts``, with the onset at the grid index where an episode starts and NaN elsewhere."""
    t = np.asarray(times, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    inside = c < threshold
    starts = inside & ~np.concatenate([np.zeros_like(inside[..., :1]), inside[..., :-1]], -1)
    ends = inside & ~np.concatenate([inside[..., 1:], np.zeros_like(inside[..., :1])], -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = t[:-1] + (c[..., :-1] - threshold) / (c[..., :-1] - c[..., 1:]) * np.diff(t)
    first = np.broadcast_to(t[0], c[..., :1].shape)
    last = np.broadcast_to(t[-1], c[..., :1].shape)
    start_time = np.concatenate([first, cross], -1)
    end_time = np.concatenate([cross, last], -1)
    index = np.arange(t.size)
    end_index = np.where(ends, index, t.size - 1)  # an inside run always ends by the last point
    next_end = np.flip(np.minimum.accumulate(np.flip(end_index, -1), -1), -1)
    onset = np.where(starts, start_time, np.nan)
    duration = np.take_along_axis(end_time, next_end, -1) - onset
    return onset, duration


def intolerance_flags(times, labs: Mapping[str, np.ndarray], infusion_times, *,
                      window_days: float = 28.0, min_duration_days: float = 7.0,
                      min_grade: int = 3) -> np.ndarray:
    """Treatment intolerance per subject: after any infusion, a grade ≥ ``min_grade`` episode
    of any lab in ``labs`` with onset in ``[t_inf, t_inf + window_days]`` lasting ≥
    ``min_duration_days`` (the rule of `cellpkpd.endpoints.treatment_intolerance`, with the
    episodes of `cellpkpd.endpoints.grade_episodes`), vectorised.

    ``labs`` maps a CTCAE lab name (``"lymphocytes"``, ``"neutrophils"``) to counts in 10^9/L,
    shape ``(..., n_times)``; ``times`` and ``infusion_times`` in days. The grid must run from
    before the first infusion to at least ``window_days + min_duration_days`` after the last,
    so that no outcome is censored; NaN counts (a failed solve) give NaN for that subject.
    """
    t = np.asarray(times, dtype=np.float64)
    infusions = np.atleast_1d(np.asarray(infusion_times, dtype=np.float64))
    if infusions.size == 0:
        raise ParameterError("infusion_times is empty: give the MSC infusion times in days")
    if not labs:
        raise ParameterError("labs is empty: give e.g. {'lymphocytes': counts, 'neutrophils': "
                             "counts} in 10^9/L")
    if t.size < 2 or (np.diff(t) <= 0).any():
        raise ParameterError("times must be a strictly increasing grid of at least 2 days; "
                             "sort it and drop duplicate times")
    needed = infusions.max() + window_days + min_duration_days
    if t[0] > infusions.min() or t[-1] < needed - TOLERANCE:
        raise ParameterError(f"the time grid [{t[0]:g}, {t[-1]:g}] days does not cover the "
                             f"first infusion ({infusions.min():g}) to {needed:g} (last "
                             f"infusion + {window_days:g} + {min_duration_days:g} days), so "
                             "some outcomes would be censored; extend the simulation times")
    hit = None
    missing = None
    for lab, counts in labs.items():
        counts = np.asarray(counts, dtype=np.float64)
        threshold = _cutoffs(lab, None)[min_grade - 1:].max()
        onset, duration = grade_onsets(t, counts, threshold)
        long_enough = duration >= min_duration_days - TOLERANCE
        lab_hit = np.zeros(counts.shape[:-1], dtype=bool)
        for t_inf in infusions:
            in_window = (onset >= t_inf - TOLERANCE) & (onset <= t_inf + window_days + TOLERANCE)
            lab_hit |= (in_window & long_enough).any(-1)
        lab_missing = np.isnan(counts).any(-1)
        hit = lab_hit if hit is None else hit | lab_hit
        missing = lab_missing if missing is None else missing | lab_missing
    return np.where(missing, np.nan, hit) if missing.any() else hit


def dose_times(regimen: Regimen, compartment: str) -> np.ndarray:
    """Sorted administration times (model time unit) of ``regimen``'s doses into
    ``compartment``."""
    times = [d.time + k * (d.every or 0.0) for d in regimen.doses if d.cmt == compartment
             for k in range(int(d.count))]
    if not times:
        raise ParameterError(f"regimen {regimen.name!r} has no dose into {compartment!r}; "
                             "name a compartment the regimen doses")
    return np.array(sorted(times))


def _parameter(ds: xr.Dataset, name: str, default: float) -> xr.DataArray | float:
    """A per-subject parameter of the virtual population, or its model default."""
    return ds[name] if name in ds.data_vars and "time" not in ds[name].dims else default


def msc_labs(ds: xr.Dataset, *, other_lymph: float = 300.0) -> dict[str, xr.DataArray]:
    """Lymphocytes (``cd4 + cd8 + nk + other_lymph``, cells/µL → 10^9/L) and neutrophils
    (``anc``, 10^9/L) from a simulated msc_ifna population: the predictions, without residual
    error (assumption 1 of the module docstring). ``other_lymph`` is used when the population
    does not carry it as a per-subject parameter."""
    missing = [v for v in ("cd4", "cd8", "nk", "anc") if v not in ds]
    if missing:
        raise DataError(DataProblem(f"the simulated population lacks output(s) {missing}",
                                    "simulate msc_ifna with outputs including cd4, cd8, nk "
                                    "and anc"))
    lymph = (ds["cd4"] + ds["cd8"] + ds["nk"] + _parameter(ds, "other_lymph", other_lymph))
    return {"lymphocytes": lymph / 1000.0, "neutrophils": ds["anc"]}


def msc_intolerance(ds: xr.Dataset, infusion_times, **rule) -> xr.DataArray:
    """MSC-IFNα treatment intolerance of every virtual subject: 1.0/0.0 (NaN where a lab value
    is missing) over the non-time dims of ``ds``. ``infusion_times`` (days) is one array for all
    regimens, or a mapping regimen name → array. ``rule``: keywords of `intolerance_flags`."""
    labs = msc_labs(ds)
    t = ds["time"].values
    if not isinstance(infusion_times, Mapping):
        values = intolerance_flags(t, {k: v.transpose(..., "time").values
                                       for k, v in labs.items()}, infusion_times, **rule)
        values = np.asarray(values, dtype=np.float64)  # chunks must agree on the dtype
        dims = [d for d in labs["lymphocytes"].transpose(..., "time").dims if d != "time"]
        return xr.DataArray(values, dims=dims, coords={d: ds[d] for d in dims if d in ds.coords})
    parts = []
    for name in ds["regimen"].values:
        if name not in infusion_times:
            raise ParameterError(f"no infusion times for regimen {name!r}; give one entry per "
                                 f"regimen of the population ({list(ds['regimen'].values)})")
        parts.append(msc_intolerance(ds.sel(regimen=name), infusion_times[name], **rule))
    return xr.concat(parts, dim="regimen")


# -- Arm 1 (de-escalation) driven by the model -------------------------------------------------

@dataclass(frozen=True)
class Arm1Simulation:
    """Model-driven Arm 1: ``ti`` per virtual subject and dose, ``p_ti`` (its per-dose
    summary over draws, `probability_summary`), the simulated ``trials`` and ``timing`` in
    seconds (``population``: simulating the virtual population; ``trials``: resampling)."""

    ti: xr.DataArray
    p_ti: pd.DataFrame
    trials: Arm1Result
    timing: dict

    @property
    def operating_characteristics(self) -> pd.DataFrame:
        """Per dose level (and none, level -1): probability of selection, probability that
        the level is reached (a cohort is treated), the model's P(TI) (median and credible
        interval over draws) and the TI rate observed in the simulated trials."""
        sel = self.trials.selection.set_index("level")
        per = self.trials.per_dose.set_index("level")
        n = self.trials.selected_level.size
        frame = sel.rename(columns={"probability": "p_select"})
        frame["p_reached"] = pd.Series(per["trials_treated"] / n)
        for col in ("median", "lower", "upper"):
            frame[f"p_ti_{col}"] = pd.Series(self.p_ti[col].to_numpy(), index=per.index)
        frame["observed_ti_rate"] = per["observed_ti_rate"]
        return frame.reset_index()

    @property
    def expected_subjects(self) -> float:
        return self.trials.expected_subjects


def _simulate(model, source, regimens, n, seed, *, times, outputs, reduce, residual_error,
              options) -> xr.Dataset:
    extra = {k: v for k, v in options.items() if v is not None}
    return simulate_population(model, source, regimens, n, seed, times=times, outputs=outputs,
                               residual_error=residual_error, reduce=reduce, **extra)


def _daily(start: float, stop: float, extra=()) -> np.ndarray:
    grid = np.arange(np.floor(start), np.ceil(stop) + 0.5, 1.0)
    return np.unique(np.concatenate([grid, np.asarray(extra, dtype=np.float64)]))


def arm1_times(infusion_times) -> np.ndarray:
    """Daily grid (days) from the day before the first infusion to 35 days after the last: the
    TI window (28 days) plus the minimum duration (7 days), so no TI outcome is censored."""
    infusion_times = np.asarray(infusion_times, dtype=np.float64)
    return _daily(infusion_times.min() - 1.0, infusion_times.max() + 35.0)


def simulate_msc_arm1(source, *, n: int = 200, n_trials: int = 1000, seed: int = 0,
                      doses=PROTOCOL_DOSES, infusions: int = 1, interval: float = 28.0,
                      cohort_size: int = 3, credible: float = CREDIBLE, times=None,
                      model="msc_ifna", iiv=None, covariates=None, draws=None, solver=None,
                      chunk=None) -> Arm1Simulation:
    """Arm 1 of the MSC-IFNα protocol driven by the model.

    ``n`` virtual subjects per draw receive ``infusions`` (1–4) MSC-IFNα infusions every
    ``interval`` (28–42) days at every dose of the ladder (the same subjects at every dose);
    their treatment intolerance comes from the simulated lymphocyte and neutrophil
    trajectories (`msc_intolerance`) on ``times`` (default `arm1_times`; a longer grid, shared
    with other simulations of the same regimen structure, reuses their compilation).
    ``n_trials`` Arm 1 trials are then drawn from them (`arm1_from_population`). ``source``,
    ``iiv``, ``covariates``, ``draws``, ``solver``, ``chunk``: as
    `cellpkpd.simulate_population`. Same seed, same result.
    """
    credible = _check_credible(credible)
    regimens = {f"{dose:g} cells/kg": msc_ifna_monotherapy(dose, infusions, interval)
                for dose in doses}
    infusion_times = dose_times(next(iter(regimens.values())), "msc_blood")
    times = arm1_times(infusion_times) if times is None else np.asarray(times, dtype=float)

    def reduce(chunk: xr.Dataset) -> xr.Dataset:
        return xr.Dataset({"ti": msc_intolerance(chunk, infusion_times)})

    start = time.perf_counter()
    population = _simulate(model, source, regimens, n, seed, times=times,
                           outputs=["cd4", "cd8", "nk", "anc"], reduce=reduce,
                           residual_error=False,
                           options=dict(iiv=iiv, covariates=covariates, draws=draws,
                                        solver=solver, chunk=chunk))
    simulated = time.perf_counter()
    ti = population["ti"]
    trials = arm1_from_population(ti, n_trials=n_trials,
                                  seed=np.random.SeedSequence(seed).spawn(1)[0], doses=doses,
                                  cohort_size=cohort_size)
    done = time.perf_counter()
    p_ti = probability_summary(ti, credible=credible)
    p_ti.insert(1, "dose", list(doses))
    return Arm1Simulation(ti, p_ti, trials, {"population": simulated - start,
                                             "trials": done - simulated})


# -- Arm 2 / phase 2: RECIST ORR, PFS and TRAE ----------------------------------------------------

@dataclass(frozen=True)
class WeibullDeath:
    """Death times linked to the tumour-size ratio (assumption 3 of the module docstring).

    ``S(t) = exp(−(t / λ_i)^shape)`` with ``λ_i = λ · TSR_i^(−beta)`` and λ set so that the
    median is ``median_days`` at TSR = 1; TSR is the predicted SLD at ``landmark_days`` after
    treatment start over the baseline SLD. The hazard ratio between two subjects is
    ``(TSR_1/TSR_2)^(beta·shape)``. Every default value is an assumption with no source.
    """

    median_days: float = 365.0
    shape: float = 1.2
    beta: float = 1.0
    landmark_days: float = 56.0

    def __post_init__(self):
        for name in ("median_days", "shape", "landmark_days"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ParameterError(f"WeibullDeath {name} must be finite and > 0, got "
                                     f"{value!r}; e.g. WeibullDeath(median_days=365.0)")
        if not np.isfinite(self.beta):
            raise ParameterError(f"WeibullDeath beta must be finite, got {self.beta!r}; "
                                 "e.g. beta=1.0 (0: no link to tumour size)")

    def scale(self, tsr) -> np.ndarray:
        base = self.median_days / np.log(2.0) ** (1.0 / self.shape)
        return base * np.asarray(tsr, dtype=np.float64) ** (-self.beta)

    def sample(self, tsr, rng: np.random.Generator) -> np.ndarray:
        """Death times (days from treatment start), one per TSR, by inversion."""
        tsr = np.asarray(tsr, dtype=np.float64)
        return self.scale(tsr) * (-np.log(rng.random(tsr.shape))) ** (1.0 / self.shape)


def _observed(ds: xr.Dataset, output: str) -> xr.DataArray:
    for name in (f"{output}_obs", f"{output}_observed"):
        if name in ds:
            return ds[name]
    raise DataError(DataProblem(f"the simulated population has no observed (residual-error) "
                                f"{output!r}", "simulate it with residual_error=True, and "
                                "give the output a residual error model (the model's, or "
                                "simulate_population(error=...))"))


def measured_sld(observed: xr.DataArray) -> xr.DataArray:
    """Observed SLD as a radiologist reports it: a draw of the additive residual error below
    0 mm is reported as 0 mm (nothing measurable left), so RECIST reads it as a CR
    (assumption 2)."""
    return observed.clip(min=0.0)


def _nearest_times(ds: xr.Dataset, wanted) -> np.ndarray:
    grid = ds["time"].values
    wanted = np.asarray(wanted, dtype=np.float64)
    index = np.abs(grid[None, :] - wanted[:, None]).argmin(axis=1)
    off = np.abs(grid[index] - wanted) > 1e-6
    if off.any():
        raise ParameterError(f"times {wanted[off].tolist()} are not on the simulated time "
                             "grid; add them to the simulation times")
    return index


def worst_grades(ds: xr.Dataset, *, start: float, stop: float) -> xr.Dataset:
    """Worst CTCAE v5.0 grade of lymphocytes and neutrophils between ``start`` and ``stop``
    (days) per virtual subject of an msc_ifna population (predicted counts at the grid
    points, assumption 1)."""
    labs = msc_labs(ds)
    out = {}
    for lab, counts in labs.items():
        window = counts.sel(time=slice(start, stop))
        values = window.transpose(..., "time").values
        grades = ctcae_grade(np.nan_to_num(values, nan=np.inf).ravel(), lab=lab)
        worst = grades.reshape(values.shape).max(-1).astype(np.float64)
        worst[np.isnan(values).any(-1)] = np.nan
        out[f"worst_grade_{lab}"] = (window.transpose(..., "time").dims[:-1], worst)
    return xr.Dataset(out, coords={d: ds[d] for d in SUBJECT_DIMS if d in ds.coords})


def phase2_reduce(*, origin: float, assessments, landmark: float, lab_window: tuple[float, float]):
    """A ``reduce`` for `simulate_population` keeping what the phase-2 endpoints need per
    subject: observed SLD at the RECIST ``assessments`` (dim ``assessment``), the predicted SLD
    ratio ``tsr`` at ``landmark`` (days from ``origin``) and the worst lab grades in
    ``lab_window``."""
    assessments = np.asarray(assessments, dtype=np.float64)

    def reduce(chunk: xr.Dataset) -> xr.Dataset:
        index = _nearest_times(chunk, assessments)
        at = _nearest_times(chunk, [origin, origin + landmark])
        sld_obs = measured_sld(_observed(chunk, "sld")).isel(time=index)
        sld_obs = sld_obs.rename(time="assessment")
        sld_obs = sld_obs.assign_coords(assessment=assessments)
        pred = chunk["sld"].isel(time=at)
        tsr = pred.isel(time=1, drop=True) / pred.isel(time=0, drop=True)
        grades = worst_grades(chunk, start=lab_window[0], stop=lab_window[1])
        return xr.Dataset({"sld_assessed": sld_obs, "tsr": tsr, **grades.data_vars})

    return reduce


def phase2_endpoints(reduced: xr.Dataset, *, origin: float, death: WeibullDeath | None,
                     seed, follow_up: float) -> pd.DataFrame:
    """Per virtual subject (rows over ``regimen``, ``draw``, ``subject``): confirmed RECIST 1.1
    best response and responder flag, PFS (RECIST PD or death, `cellpkpd.endpoints.pfs_times`),
    DOR for responders (``response_onset``, the first assessment of the confirmed CR/PR, to PD
    or death, censored at the last assessment: ``dor_time``, ``dor_event``; NaN for
    non-responders; `cellpkpd.endpoints.dor_times`) and grade ≥ 3 TRAE flags. Assessments after
    a subject's death are dropped; a death after ``follow_up`` days is not seen. Deaths come
    from ``death`` with ``seed`` (None: no deaths). Times are days from ``origin`` (treatment
    start)."""
    sld = reduced["sld_assessed"].transpose(*SUBJECT_DIMS, "assessment")
    t = sld["assessment"].values - origin
    values = sld.values.reshape(-1, t.size)
    tsr = reduced["tsr"].transpose(*SUBJECT_DIMS).values.ravel()
    rng = np.random.default_rng(seed)
    deaths = (death.sample(tsr, rng) if death is not None else np.full(tsr.shape, np.inf))
    deaths = np.where(deaths <= follow_up, deaths, np.nan)
    rows = []
    for i, series in enumerate(values):
        seen = t < deaths[i] if np.isfinite(deaths[i]) else np.ones(t.size, dtype=bool)
        if not np.isfinite(series).all():
            rows.append(dict(best_response="NA", responder=np.nan, progression=np.nan,
                             last_assessment=np.nan, response_onset=np.nan))
            continue
        result = recist(t[seen], series[seen])
        rows.append(dict(best_response=result.best_response,
                         responder=float(result.best_response in RECIST_RESPONDERS),
                         progression=result.pfs_time if result.pfs_event else np.nan,
                         last_assessment=float(t[seen][-1]),
                         response_onset=result.response_onset))
    frame = pd.DataFrame(rows)
    index = pd.MultiIndex.from_product([reduced[d].values for d in SUBJECT_DIMS],
                                       names=SUBJECT_DIMS)
    frame.index = index
    frame["death"] = deaths
    evaluable = frame["best_response"] != "NA"
    pfs = pfs_times(frame[evaluable].assign(id=np.flatnonzero(evaluable), start=0.0))
    frame["pfs_time"] = np.nan
    frame["pfs_event"] = np.nan
    frame.loc[evaluable, "pfs_time"] = pfs["time"].to_numpy()
    frame.loc[evaluable, "pfs_event"] = pfs["event"].to_numpy().astype(float)
    responding = evaluable & frame["response_onset"].notna()
    frame["dor_time"] = np.nan
    frame["dor_event"] = np.nan
    if responding.any():
        dor = dor_times(frame[responding].assign(id=np.flatnonzero(responding)))
        frame.loc[responding, "dor_time"] = dor["time"].to_numpy()
        frame.loc[responding, "dor_event"] = dor["event"].to_numpy().astype(float)
    for lab in ("lymphocytes", "neutrophils"):
        grade = reduced[f"worst_grade_{lab}"].transpose(*SUBJECT_DIMS).values.ravel()
        frame[f"trae_{lab}"] = np.where(np.isnan(grade), np.nan, grade >= 3)
    frame["trae_any"] = np.maximum(frame["trae_lymphocytes"], frame["trae_neutrophils"])
    return frame


def _over_trials(values: np.ndarray, credible: float, *, not_reached: bool) -> dict:
    """Mean, median and equal-tailed interval over trials (inverted-CDF quantiles: values a
    trial can take). NaN is "not reached" (counted as +inf: a median PFS beyond follow-up)
    when ``not_reached``, else "not estimable" (left out); ``undefined`` is their fraction."""
    undefined = ~np.isfinite(values)
    kept = np.where(undefined, np.inf, values) if not_reached else values[~undefined]
    tail = (1.0 - credible) / 2.0
    if kept.size == 0:
        stats = dict(mean=np.nan, median=np.nan, lower=np.nan, upper=np.nan)
    else:
        q = np.quantile(kept, [0.5, tail, 1.0 - tail], method="inverted_cdf")
        q = np.where(np.isfinite(q), q, np.nan)
        stats = dict(mean=float(np.mean(kept)) if np.isfinite(kept).all() else np.nan,
                     median=q[0], lower=q[1], upper=q[2])
    return stats | {"undefined": float(undefined.mean())}


def _km_summary(time_, event, landmark: float) -> tuple[float, float]:
    with np.errstate(invalid="ignore", divide="ignore"):
        km = kaplan_meier(time_, event)
    at = km.survival_at([landmark])["survival"].iloc[0]
    return km.median()[0], float(at)


def _km_median(time_, event) -> float:
    """Kaplan–Meier median (NaN: not reached, or no subject)."""
    if len(time_) == 0:
        return np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return kaplan_meier(time_, event).median()[0]


def _require(present, columns, argument: str, made_by: str) -> None:
    missing = [c for c in columns if c not in present]
    if missing:
        raise DataError(DataProblem(f"{argument} lacks the column(s) {missing}",
                                    f"pass the per-subject table made by {made_by}"))


def dor_summary(endpoints: pd.DataFrame | xr.Dataset, *, confidence: float = 0.95
                ) -> pd.DataFrame:
    """Duration of response per regimen, pooled over draws and subjects: ``n_responders``,
    ``n_events`` (progression or death), and the Kaplan–Meier ``median`` with its
    ``confidence`` interval (``lower``, ``upper``; Brookmeyer–Crowley, NaN: not reached), days.
    ``endpoints``: `phase2_endpoints`' table or `simulate_carnk`'s ``flags`` (columns
    ``dor_time``, ``dor_event``, NaN for non-responders). Pooling over draws mixes parameter
    uncertainty into the estimate; `phase2_trials` gives the spread over simulated trials."""
    made_by = "phase2_endpoints, or simulate_carnk's flags"
    if isinstance(endpoints, xr.Dataset):
        _require(endpoints.data_vars, ("dor_time", "dor_event"), "endpoints", made_by)
        endpoints = endpoints[["dor_time", "dor_event"]].to_dataframe()
    _require(endpoints.columns, ("dor_time", "dor_event"), "endpoints", made_by)
    if "regimen" in endpoints.index.names:
        groups = endpoints.groupby(level="regimen", sort=False)
    else:
        groups = [("all", endpoints)]
    rows = []
    for regimen, group in groups:
        kept = group[np.isfinite(group["dor_time"].to_numpy(dtype=np.float64))]
        row = dict(regimen=regimen, n_responders=len(kept),
                   n_events=int((kept["dor_event"] > 0.5).sum()),
                   median=np.nan, lower=np.nan, upper=np.nan)
        if len(kept):
            with np.errstate(invalid="ignore", divide="ignore"):
                km = kaplan_meier(kept["dor_time"].to_numpy(dtype=np.float64),
                                  kept["dor_event"].to_numpy() > 0.5, confidence=confidence)
            row.update(zip(("median", "lower", "upper"), km.median(), strict=True))
        rows.append(row)
    return pd.DataFrame(rows)


def phase2_trials(endpoints: pd.DataFrame, *, n_subjects: Sequence[int] = (10, 20, 30),
                  n_trials: int = 1000, seed, pfs_landmark: float = 182.0,
                  credible: float = CREDIBLE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulated phase-2 trials of each size in ``n_subjects`` for each regimen of
    ``endpoints`` (from `phase2_endpoints`): each trial picks a draw, then subjects with
    replacement (module docstring). Returns ``(trials, summary)``: per trial the ORR, the
    Kaplan–Meier median PFS (NaN: not reached) and PFS rate at ``pfs_landmark`` days, the
    number of responders and their Kaplan–Meier median DOR (``dor_median``; NaN: not reached,
    or no responder), and the grade ≥ 3 TRAE rates; the summary gives per regimen and size the
    mean, median and ``credible`` interval of each over trials (``n_trials`` of them; for
    ``dor_median`` only the trials with a responder, ``undefined`` being the fraction of those
    where it was not reached)."""
    credible = _check_credible(credible)
    sizes = [int(k) for k in np.atleast_1d(n_subjects)]
    if not sizes or min(sizes) < 1:
        raise ParameterError(f"n_subjects must be positive trial sizes, got {n_subjects!r}; "
                             "e.g. n_subjects=(10, 20, 30)")
    rng = np.random.default_rng(seed)
    columns = ["responder", "pfs_time", "pfs_event", "trae_lymphocytes", "trae_neutrophils",
               "trae_any", "dor_time", "dor_event"]
    _require(endpoints.columns, ["best_response", *columns], "endpoints", "phase2_endpoints")
    frame = endpoints[endpoints["best_response"] != "NA"]
    rows = []
    for regimen, by_regimen in frame.groupby(level="regimen", sort=False):
        draws = by_regimen.index.get_level_values("draw")
        pools = [by_regimen.loc[draws == d, columns].to_numpy(dtype=np.float64)
                 for d in pd.unique(draws)]
        for size in sizes:
            for trial in range(int(n_trials)):
                pool = pools[rng.integers(0, len(pools))]
                sample = pool[rng.integers(0, len(pool), size)]
                median, at = _km_summary(sample[:, 1], sample[:, 2] > 0.5, pfs_landmark)
                rates = sample[:, [0, 3, 4, 5]].mean(axis=0)
                responding = np.isfinite(sample[:, 6])
                dor = _km_median(sample[responding, 6], sample[responding, 7] > 0.5)
                rows.append(dict(regimen=regimen, n_subjects=size, trial=trial, orr=rates[0],
                                 pfs_median=median, pfs_at_landmark=at,
                                 trae_lymphocytes=rates[1], trae_neutrophils=rates[2],
                                 trae_any=rates[3], responders=int(responding.sum()),
                                 dor_median=dor))
    trials = pd.DataFrame(rows)
    metrics = ["orr", "pfs_median", "pfs_at_landmark", "dor_median", "trae_lymphocytes",
               "trae_neutrophils", "trae_any"]
    summary = []
    for (regimen, size), group in trials.groupby(["regimen", "n_subjects"], sort=False):
        for metric in metrics:
            kept = group[group["responders"] > 0] if metric == "dor_median" else group
            summary.append(dict(regimen=regimen, n_subjects=size, metric=metric,
                                **_over_trials(kept[metric].to_numpy(dtype=np.float64),
                                               credible, not_reached=metric.endswith("median")),
                                n_trials=len(kept)))
    return trials, pd.DataFrame(summary)


@dataclass(frozen=True)
class Phase2Simulation:
    """Arm 2 / phase 2: per-subject ``endpoints``, the per-draw population probabilities
    (``population``: ORR and TRAE rates with credible intervals over draws), simulated
    ``trials`` and their ``summary`` (`phase2_trials`), ``timing`` in seconds, and the
    population's duration of response (``dor``: `dor_summary`)."""

    endpoints: pd.DataFrame
    population: pd.DataFrame
    trials: pd.DataFrame
    summary: pd.DataFrame
    timing: dict
    dor: pd.DataFrame | None = None


def _population_rates(endpoints: pd.DataFrame, credible: float) -> pd.DataFrame:
    tables = []
    for column in ("responder", "trae_lymphocytes", "trae_neutrophils", "trae_any"):
        flags = xr.DataArray.from_series(endpoints[column].astype(np.float64))
        table = probability_summary(flags, credible=credible)
        table.insert(1, "event", column)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _treatment_span(regimen: Regimen) -> tuple[float, float]:
    first = min(d.time for d in regimen.doses)
    last = max(d.time + (d.count - 1) * (d.every or 0.0) for d in regimen.doses)
    return first, last


def phase2_times(regimen: Regimen, *, assessment_interval: float = 42.0,
                 follow_up: float = 365.0) -> np.ndarray:
    """The phase-2 simulation grid (days): daily from the day before the first dose to 30 days
    after the last or to the end of follow-up, whichever is later, with the RECIST assessments
    (every ``assessment_interval`` days from the first dose)."""
    first, last = _treatment_span(regimen)
    assessments = first + np.arange(0.0, follow_up + TOLERANCE, assessment_interval)
    return _daily(first - 1.0, max(last + 30.0, assessments[-1]), assessments)


def simulate_msc_phase2(source, *, dose: float = 6e5, cycles: int = 12, n: int = 200,
                        n_subjects: Sequence[int] = (10, 20, 30), n_trials: int = 1000,
                        seed: int = 0, assessment_interval: float = 42.0,
                        follow_up: float = 365.0, death: WeibullDeath | None = WeibullDeath(),
                        pfs_landmark: float = 182.0, credible: float = CREDIBLE,
                        model="msc_ifna", iiv=None, covariates=None, draws=None, solver=None,
                        chunk=None) -> Phase2Simulation:
    """Arm 2 (MSC-IFNα ``dose`` cells/kg with immunochemotherapy, ``cycles`` 28-day cycles,
    `cellpkpd.regimens.msc_ifna_combination`) and phase-2 predictions.

    Treatment starts at the first dose (day −5, nab-paclitaxel): RECIST baseline there, then
    assessments every ``assessment_interval`` days up to ``follow_up`` days, the last of them
    being the data cut-off (deaths after it are not seen); the observed SLD carries residual
    error (assumption 2). ORR = confirmed CR/PR; PFS = RECIST PD or death
    (``death``, assumption 3); DOR = confirmed CR/PR to PD or death, for responders; TRAE =
    worst CTCAE grade ≥ 3 lymphocyte or neutrophil count
    decreased from the first dose to 30 days after the last (assumption 1). Phase 2 trials of
    each size in ``n_subjects`` (10–30) are drawn from the virtual population (`phase2_trials`).
    The simulation grid is `phase2_times`.
    """
    credible = _check_credible(credible)
    regimen = msc_ifna_combination(dose, cycles=cycles)
    first, last = _treatment_span(regimen)
    assessments = first + np.arange(0.0, follow_up + TOLERANCE, assessment_interval)
    times = phase2_times(regimen, assessment_interval=assessment_interval, follow_up=follow_up)
    reduce = phase2_reduce(origin=first, assessments=assessments,
                           landmark=death.landmark_days if death else assessment_interval,
                           lab_window=(first, last + 30.0))
    start = time.perf_counter()
    population = _simulate(model, source, {f"{dose:g} cells/kg": regimen}, n, seed,
                           times=times, outputs=["sld", "cd4", "cd8", "nk", "anc"],
                           reduce=reduce, residual_error=True,
                           options=dict(iiv=iiv, covariates=covariates, draws=draws,
                                        solver=solver, chunk=chunk))
    simulated = time.perf_counter()
    seeds = np.random.SeedSequence(seed).spawn(2)
    # data cut-off at the last scheduled assessment: a death after it is not seen, or the
    # subjects censored there would leave only deaths in the risk set
    endpoints = phase2_endpoints(population, origin=first, death=death, seed=seeds[0],
                                 follow_up=assessments[-1] - first)
    trials, summary = phase2_trials(endpoints, n_subjects=n_subjects, n_trials=n_trials,
                                    seed=seeds[1], pfs_landmark=pfs_landmark,
                                    credible=credible)
    done = time.perf_counter()
    return Phase2Simulation(endpoints, _population_rates(endpoints, credible), trials, summary,
                            {"population": simulated - start, "endpoints_and_trials":
                             done - simulated}, dor_summary(endpoints))


# -- CAR-NK: DLT and IMWG response --------------------------------------------------------------

def carnk_dlt(ds: xr.DataArray | xr.Dataset, *, window_days: float = 28.0,
              il6_fold: float = 10.0) -> xr.DataArray:
    """DLT (grade ≥ 3 CRS) per virtual subject: predicted IL-6 reaches ``il6_fold`` × its
    value at the first grid time within ``window_days`` of it (assumption 4; the infusion is at
    the first grid time)."""
    il6 = ds["il6_serum"]
    t0 = float(ds["time"].values[0])
    window = il6.sel(time=slice(t0, t0 + window_days))
    peak = window.max("time", skipna=False)
    flag = peak >= il6_fold * il6.isel(time=0, drop=True)
    return flag.where(np.isfinite(peak))


def _baselines(ds: xr.Dataset, baseline_g_dl) -> np.ndarray:
    """Baseline serum M-protein per subject of ``ds`` (g/dL): a float for all, or an array
    indexed by the ``subject`` coordinate (one value per virtual patient)."""
    if np.ndim(baseline_g_dl) == 0:
        value = float(baseline_g_dl)
        if not value > 0:
            raise ParameterError(f"baseline_g_dl={baseline_g_dl!r} must be > 0 g/dL")
        return np.full(ds.sizes.get("subject", 1), value)
    values = np.asarray(baseline_g_dl, dtype=np.float64)
    subjects = ds["subject"].values.astype(int) if "subject" in ds.coords else \
        np.arange(ds.sizes["subject"])
    if subjects.max() >= values.size:
        raise ParameterError(f"baseline_g_dl has {values.size} values but the population has "
                             f"subject {subjects.max()}; give one baseline per virtual subject")
    return values[subjects]


def carnk_imwg(ds: xr.Dataset, *, weeks=IMWG_WEEKS, baseline_g_dl=2.0) -> xr.Dataset:
    """IMWG response per virtual subject at each assessment week (dim ``week``):
    ``responder`` — best *confirmed* response, from the assessments up to that week, is PR or
    better (`cellpkpd.endpoints.imwg`); ``timepoint_responder`` — that week's unconfirmed
    category is PR or better. Per subject, over all the weeks: ``response_onset`` (days, the
    first assessment of the first confirmed ≥ PR) and the duration of response ``dor_time``
    (days, to the confirmed IMWG PD, censored at the last assessment; no deaths are modelled)
    with ``dor_event``, NaN for non-responders. Serum M-protein is the subject's
    ``baseline_g_dl`` (g/dL; a float, or one value per subject indexed by the ``subject``
    coordinate) × ``mprot(t) / mprot(0)``, urine M-protein 0 mg/24 h (assumption 5); baseline
    at the first grid time."""
    weeks = np.asarray(weeks, dtype=np.float64)
    days = float(ds["time"].values[0]) + 7.0 * weeks
    index = np.concatenate([[0], _nearest_times(ds, days)])
    mprot = ds["mprot"].isel(time=index).transpose(..., "subject", "time")
    relative = mprot / mprot.isel(time=0)
    t = np.concatenate([[0.0], 7.0 * weeks])
    scaled = relative.values * _baselines(ds, baseline_g_dl)[:, None]
    flat = scaled.reshape(-1, t.size)
    urine = np.zeros(t.size)
    confirmed = np.full((flat.shape[0], weeks.size), np.nan)
    timepoint = np.full_like(confirmed, np.nan)
    dor = np.full((3, flat.shape[0]), np.nan)  # response onset, DOR, DOR event
    for i, series in enumerate(flat):
        if not np.isfinite(series).all():
            continue
        full = imwg(t, series, urine_m_protein=urine)
        if np.isfinite(full.response_onset):
            dor[:, i] = full.response_onset, full.dor, float(full.dor_event)
        timepoint[i] = full.assessments["response"].iloc[1:].isin(IMWG_RESPONDERS)
        confirmed[i] = False
        if timepoint[i].sum() < 2:
            continue  # a confirmed ≥ PR needs two assessments at ≥ PR: none in any prefix
        for k in range(weeks.size):
            best = full if k == weeks.size - 1 else imwg(t[:k + 2], series[:k + 2],
                                                         urine_m_protein=urine[:k + 2])
            confirmed[i, k] = best.best_response in IMWG_RESPONDERS
    dims = (*relative.dims[:-1], "week")
    shape = (*relative.shape[:-1], weeks.size)
    coords = {d: ds[d] for d in dims[:-1] if d in ds.coords} | {"week": weeks}
    per_subject = relative.shape[:-1]
    return xr.Dataset({"responder": (dims, confirmed.reshape(shape)),
                       "timepoint_responder": (dims, timepoint.reshape(shape)),
                       "response_onset": (dims[:-1], dor[0].reshape(per_subject)),
                       "dor_time": (dims[:-1], dor[1].reshape(per_subject)),
                       "dor_event": (dims[:-1], dor[2].reshape(per_subject))}, coords=coords)


@dataclass(frozen=True)
class CarnkSimulation:
    """CAR-NK: ``dlt`` (P(DLT) per dose with its credible interval), ``orr`` (per dose and
    week: P(confirmed IMWG ≥ PR by that week) and P(≥ PR at that week)), the per-subject
    ``flags``, ``timing`` in seconds, and the duration of response per dose (``dor``:
    `dor_summary` of the flags; the last assessment week bounds it)."""

    dlt: pd.DataFrame
    orr: pd.DataFrame
    flags: xr.Dataset
    timing: dict
    dor: pd.DataFrame | None = None


def simulate_carnk(source, *, doses=(1e8, 1e9, 3e9), n: int = 200, seed: int = 0,
                   weeks=IMWG_WEEKS, ligand_positive: float = 0.62, il6_fold: float = 10.0,
                   baseline_g_dl: float | MProteinBaseline = MPROTEIN_BASELINE,
                   credible: float = CREDIBLE,
                   model="nkg2d_carnk_mm", iiv=None, covariates=None, draws=None, solver=None,
                   chunk=None) -> CarnkSimulation:
    """NKG2D-CAR-NK in myeloma at each flat dose (cells) in ``doses``: DLT within 4 weeks
    (`carnk_dlt`) and IMWG ORR at ``weeks`` (`carnk_imwg`), with credible intervals over
    draws. Unless ``covariates`` are given, each virtual subject's tumour expresses NKG2D
    ligands (``NKG2DL_POS`` = 1) with probability ``ligand_positive`` (62%, protocol) drawn
    with ``seed``. Each virtual subject's baseline serum M-protein is drawn from
    ``baseline_g_dl`` (a `MProteinBaseline`, or one float for all; assumption 5)."""
    credible = _check_credible(credible)
    if isinstance(baseline_g_dl, MProteinBaseline):
        rng_m = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
        baseline_g_dl = baseline_g_dl.sample(n, rng_m)
    if covariates is None:
        if not 0 <= ligand_positive <= 1:
            raise ParameterError(f"ligand_positive must lie in [0, 1], got "
                                 f"{ligand_positive!r}; e.g. 0.62 (the protocol's fraction)")
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        covariates = pd.DataFrame({"NKG2DL_POS": (rng.random(n) < ligand_positive) * 1.0})
    regimens = {f"{dose:g} cells": nkg2d_carnk(dose) for dose in doses}
    times = _daily(0.0, 28.0, 7.0 * np.asarray(weeks, dtype=np.float64))

    def reduce(chunk: xr.Dataset) -> xr.Dataset:
        return xr.Dataset({"dlt": carnk_dlt(chunk, il6_fold=il6_fold),
                           **carnk_imwg(chunk, weeks=weeks,
                                        baseline_g_dl=baseline_g_dl).data_vars})

    start = time.perf_counter()
    flags = _simulate(model, source, regimens, n, seed, times=times,
                      outputs=["il6_serum", "mprot"], reduce=reduce, residual_error=False,
                      options=dict(iiv=iiv, covariates=covariates, draws=draws, solver=solver,
                                   chunk=chunk))
    simulated = time.perf_counter()
    dlt = probability_summary(flags["dlt"], credible=credible)
    orr = []
    for week in flags["week"].values:
        for column in ("responder", "timepoint_responder"):
            table = probability_summary(flags[column].sel(week=week), credible=credible)
            table.insert(1, "week", week)
            table.insert(2, "event", column)
            orr.append(table)
    if np.isnan(flags["dlt"].values).any():
        warnings.warn(f"{int(np.isnan(flags['dlt'].values).sum())} virtual subject(s) could "
                      "not be evaluated (failed solves) and are left out", RuntimeWarning,
                      stacklevel=2)
    return CarnkSimulation(dlt, pd.concat(orr, ignore_index=True), flags,
                           {"population": simulated - start}, dor_summary(flags))
