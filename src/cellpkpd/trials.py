"""Arm 1 of the MSC-IFNα protocol (dose de-escalation) as a pure design simulator.

Design: cohorts of ``cohort_size`` (3) subjects, starting at the first dose of the ladder
(2 × 10^6 cells/kg). If any subject of a cohort has treatment intolerance (TI, see
`cellpkpd.endpoints.treatment_intolerance`), the next cohort gets the next, 70 % lower, dose.
The first dose at which no subject of its cohort has TI is selected and the arm stops. TI at
the last dose of the ladder (the floor) stops the arm with no tolerated dose.

Cohorts come from per-dose TI probabilities, from a callable, or from a virtual population
(`arm1_from_population`: one parameter draw per trial, subjects resampled from it).

The ladder defaults to the protocol's rounded doses (2e6, 6e5, 2e5, 6e4) cells/kg; exact
70 % steps would be 2e6, 6e5, 1.8e5, 5.4e4. Pass ``doses`` to change it.

Exact selection probabilities with per-subject TI probability p_k at level k and cohort size n:
P(select k) = Π_{j<k} (1 − (1 − p_j)^n) · (1 − p_k)^n, P(none) = Π_k (1 − (1 − p_k)^n).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from .errors import ArgumentTypeError, ParameterError

PROTOCOL_DOSES = (2e6, 6e5, 2e5, 6e4)  # cells/kg

IntoleranceModel = Callable[[int, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Arm1Result:
    """Simulated trials. Per trial: ``selected_level`` (-1 = no tolerated dose), ``cohorts``
    and ``subjects``; ``ti_counts`` (n_trials × levels) subjects with TI, -1 where untreated."""

    doses: tuple[float, ...]
    cohort_size: int
    selected_level: np.ndarray
    cohorts: np.ndarray
    subjects: np.ndarray
    ti_counts: np.ndarray

    @property
    def selection(self) -> pd.DataFrame:
        """Probability of selecting each dose level, and of none (level -1, dose NaN)."""
        levels = np.arange(-1, len(self.doses))
        counts = np.bincount(self.selected_level + 1, minlength=levels.size)
        return _selection_frame(self.doses, counts / self.selected_level.size)

    @property
    def per_dose(self) -> pd.DataFrame:
        """Per level: trials and subjects treated, subjects with TI and their fraction."""
        treated = self.ti_counts >= 0
        n_treated = treated.sum(axis=0) * self.cohort_size
        n_ti = np.where(treated, self.ti_counts, 0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n_treated > 0, n_ti / n_treated, np.nan)
        return pd.DataFrame({"level": np.arange(len(self.doses)), "dose": self.doses,
                             "trials_treated": treated.sum(axis=0),
                             "subjects_treated": n_treated, "subjects_with_ti": n_ti,
                             "observed_ti_rate": rate})

    @property
    def expected_subjects(self) -> float:
        return float(self.subjects.mean())

    @property
    def subjects_distribution(self) -> pd.Series:
        """P(number of subjects enrolled in the arm = value)."""
        return pd.Series(self.subjects).value_counts(normalize=True).sort_index()

    @property
    def cohorts_distribution(self) -> pd.Series:
        """P(number of cohorts in the arm = value)."""
        return pd.Series(self.cohorts).value_counts(normalize=True).sort_index()


def _selection_frame(doses, probabilities) -> pd.DataFrame:
    """Rows: none first (level -1), then each level in ladder order."""
    return pd.DataFrame({"level": np.arange(-1, len(doses)),
                         "dose": np.concatenate([[np.nan], doses]),
                         "probability": probabilities})


def _floats(name: str, values, what: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be numbers ({what}), got {values!r}") from None


def _check_ladder(doses) -> tuple[float, ...]:
    ladder = _floats("doses", doses, "dose levels in cells/kg, highest first")
    if ladder.size == 0:
        raise ParameterError("doses is empty: give at least one dose level (cells/kg)")
    if not (np.isfinite(ladder).all() and (ladder > 0).all()):
        raise ParameterError(f"doses must be positive finite cells/kg, got {ladder.tolist()}; "
                             "give each dose level as a number > 0")
    if (np.diff(ladder) >= 0).any():
        raise ParameterError(f"doses must de-escalate (strictly decrease), got "
                             f"{ladder.tolist()}; list the levels highest first")
    return tuple(ladder.tolist())


def _check_probabilities(p_by_dose, doses: tuple[float, ...]) -> np.ndarray:
    if isinstance(p_by_dose, Mapping):
        missing = [d for d in doses if d not in p_by_dose]
        if missing:
            raise ParameterError(f"p_by_dose has no probability for dose(s) {missing}; key it "
                                 "by the doses of the ladder")
        p_by_dose = [p_by_dose[d] for d in doses]
    p = _floats("p_by_dose", p_by_dose, "TI probabilities in [0, 1], one per dose level")
    if p.size != len(doses):
        raise ParameterError(f"p_by_dose: give one TI probability per dose level: {p.size} "
                             f"for {len(doses)} levels")
    if not (np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()):
        raise ParameterError(f"p_by_dose: TI probabilities must lie in [0, 1], got "
                             f"{p.tolist()}")
    return p


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}; pass e.g. "
                             f"{name}=3")
    return int(value)


def arm1_exact(p_by_dose, *, doses=PROTOCOL_DOSES, cohort_size: int = 3) -> pd.DataFrame:
    """Exact selection probabilities (module docstring) for per-subject TI probabilities
    ``p_by_dose`` (sequence in ladder order, or mapping dose → p)."""
    ladder = _check_ladder(doses)
    n = _check_size("cohort_size", cohort_size)
    p = _check_probabilities(p_by_dose, ladder)
    clean = (1.0 - p) ** n
    reach = np.concatenate([[1.0], np.cumprod(1.0 - clean)])  # P(cohort k is treated)
    return _selection_frame(ladder, np.concatenate([[reach[-1]], reach[:-1] * clean]))


def _probability_model(p: np.ndarray) -> IntoleranceModel:
    def model(level: int, n_subjects: int, rng: np.random.Generator) -> np.ndarray:
        return rng.random(n_subjects) < p[level]
    return model


def simulate_arm1(intolerance, *, n_trials: int, seed, doses=PROTOCOL_DOSES,
                  cohort_size: int = 3) -> Arm1Result:
    """Simulate ``n_trials`` independent Arm 1 trials (design in the module docstring).

    ``intolerance`` is one of:

    - per-subject TI probabilities per dose level (sequence in ladder order, or mapping
      dose → p);
    - a callable ``(level, n_subjects, rng) -> bool array`` that returns whether each of
      ``n_subjects`` new subjects dosed at ``doses[level]`` has TI (e.g. virtual subjects from
      the PK/PD model with the TI rule applied). It is called once per level with every subject
      of every trial still running, trial-major (subjects ``3k..3k+2`` form the cohort of the
      k-th such trial);
    - a boolean array ``(n_trials, n_levels, cohort_size)``: the TI outcome of the subjects who
      would form each trial's cohort at each level, drawn beforehand (e.g. by
      `arm1_from_population`, which keeps one parameter draw per trial). Only the cohorts
      the design reaches are read; ``seed`` is not used.

    ``seed``: int or `numpy.random.Generator`; the same seed gives the same result.
    """
    ladder = _check_ladder(doses)
    size = _check_size("cohort_size", cohort_size)
    trials = _check_size("n_trials", n_trials)
    if isinstance(intolerance, np.ndarray):
        return _from_cohorts(intolerance, ladder, size, trials)
    model = intolerance if callable(intolerance) else _probability_model(
        _check_probabilities(intolerance, ladder))
    rng = np.random.default_rng(seed)
    ti_counts = np.full((trials, len(ladder)), -1, dtype=np.int64)
    selected = np.full(trials, -1, dtype=np.int64)
    running = np.arange(trials)
    for level in range(len(ladder)):
        if running.size == 0:
            break
        flags = np.asarray(model(level, running.size * size, rng))
        if flags.shape != (running.size * size,) or flags.dtype != bool:
            raise ParameterError(f"the intolerance callable returned {flags.dtype} of shape "
                                 f"{flags.shape} at level {level}; expected bool of shape "
                                 f"({running.size * size},)")
        counts = flags.reshape(running.size, size).sum(axis=1)
        ti_counts[running, level] = counts
        selected[running[counts == 0]] = level
        running = running[counts > 0]
    cohorts = (ti_counts >= 0).sum(axis=1)
    return Arm1Result(ladder, size, selected, cohorts, cohorts * size, ti_counts)


def _valid_subjects(ti: np.ndarray) -> list[list[np.ndarray]]:
    return [[np.flatnonzero(np.isfinite(row)) for row in level] for level in ti]


def arm1_from_population(ti: xr.DataArray, *, n_trials: int, seed, doses=PROTOCOL_DOSES,
                         cohort_size: int = 3) -> Arm1Result:
    """Arm 1 trials whose cohorts are drawn from a virtual population.

    ``ti`` holds the treatment intolerance of every virtual subject at each dose level, dims
    ``(regimen, draw, subject)`` with the regimens in ladder order (``doses``). Each trial
    picks one draw, then each cohort's subjects from that draw's subjects at that level,
    uniformly with replacement (the bootstrap of an infinite population); subjects not
    evaluable (NaN, e.g. a failed solve) are not picked. Given the draw, the selection
    probabilities are then exactly `arm1_exact` of the draw's TI fractions. ``seed``: int,
    `numpy.random.SeedSequence` or Generator.
    """
    doses = _check_ladder(doses)
    cohort_size = _check_size("cohort_size", cohort_size)
    n_trials = _check_size("n_trials", n_trials)
    values = ti.transpose("regimen", "draw", "subject").astype(np.float64).values
    if values.shape[0] != len(doses):
        raise ParameterError(f"ti has {values.shape[0]} regimen(s) for {len(doses)} dose "
                             "levels; give one regimen per dose, in ladder order")
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, values.shape[1], n_trials)
    outcomes = np.zeros((n_trials, len(doses), cohort_size), dtype=bool)
    valid = _valid_subjects(values)
    for level in range(len(doses)):
        for d in range(values.shape[1]):
            trials = np.flatnonzero(draw == d)
            pool = valid[level][d]
            if trials.size == 0:
                continue
            if pool.size == 0:
                raise ParameterError(f"ti: draw {d} has no evaluable virtual subject at dose "
                                     f"{doses[level]:g}; check the solver failures")
            picked = pool[rng.integers(0, pool.size, (trials.size, cohort_size))]
            outcomes[trials, level] = values[level, d][picked] > 0.5
    return simulate_arm1(outcomes, n_trials=n_trials, seed=seed, doses=doses,
                         cohort_size=cohort_size)


def _from_cohorts(outcomes: np.ndarray, ladder: tuple[float, ...], size: int,
                  trials: int) -> Arm1Result:
    """The design applied to predrawn cohort outcomes ``(n_trials, n_levels, cohort_size)``."""
    expected = (trials, len(ladder), size)
    if outcomes.dtype != bool or outcomes.shape != expected:
        raise ParameterError(f"intolerance: cohort outcomes must be a bool array of shape "
                             f"{expected} (n_trials, n_levels, cohort_size), got "
                             f"{outcomes.dtype} of shape {outcomes.shape}")
    counts = outcomes.sum(axis=2)
    clean = counts == 0
    selected = np.where(clean.any(axis=1), np.argmax(clean, axis=1), -1)
    cohorts = np.where(selected >= 0, selected + 1, len(ladder))
    treated = np.arange(len(ladder))[None, :] < cohorts[:, None]
    ti_counts = np.where(treated, counts, -1).astype(np.int64)
    return Arm1Result(ladder, size, selected.astype(np.int64), cohorts.astype(np.int64),
                      (cohorts * size).astype(np.int64), ti_counts)
