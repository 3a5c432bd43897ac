"""CTCAE v5.0 (NCI, 27 Nov 2017) grades of low blood counts, per time point and as episodes.

Grades (counts in 10^9/L; a value below a cut-off gets at least that grade):

============================  ============  =========  =========  =====
term                          G1            G2         G3         G4
============================  ============  =========  =========  =====
Lymphocyte count decreased    < LLN – 0.8   < 0.8–0.5  < 0.5–0.2  < 0.2
Neutrophil count decreased    < LLN – 1.5   < 1.5–1.0  < 1.0–0.5  < 0.5
============================  ============  =========  =========  =====

The lower limits of normal are laboratory-specific; the defaults are **assumptions** (typical
adult reference ranges): lymphocytes 1.0 × 10^9/L, neutrophils (ANC) 1.8 × 10^9/L.

Episodes of grade ≥ k on a time grid: the count is taken as linear in time between grid points,
so an episode starts/ends at the linearly interpolated time where the count crosses the grade-k
cut-off (strictly below it counts). An episode already under way at the first point starts
there (``left_censored``); one still under way at the last point ends there
(``right_censored``). Worst grade = highest grade at the grid points inside the episode (a
linear segment has its extremes at the grid points).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, DataProblem, ParameterError
from ._checks import float_vector, increasing_times, same_length

# term -> (default LLN assumed, cut-offs for G2, G3, G4) in 10^9/L
LABS = {
    "lymphocytes": (1.0, (0.8, 0.5, 0.2)),
    "neutrophils": (1.8, (1.5, 1.0, 0.5)),
}
_PER_1E9_PER_L = {"10^9/L": 1.0, "x10^9/L": 1.0, "G/L": 1.0, "cells/uL": 1e-3,
                  "cells/µL": 1e-3, "/uL": 1e-3, "/µL": 1e-3}


def _cutoffs(lab: str, lln: float | None) -> np.ndarray:
    """Upper bounds of grades 1–4 in 10^9/L: (LLN, G2, G3, G4)."""
    if lab not in LABS:
        raise ParameterError(f"lab must be one of {sorted(LABS)}, got {lab!r}; e.g. "
                             "lab='neutrophils'")
    default, rest = LABS[lab]
    lln = default if lln is None else lln
    if not (np.isfinite(lln) and lln > 0):
        raise ParameterError(f"lln must be a positive count in 10^9/L, got {lln!r}; give the "
                             "local lower limit of normal, or None for the default")
    return np.array([lln, *rest])


def to_1e9_per_l(values, unit: str = "10^9/L") -> np.ndarray:
    """Counts converted to 10^9/L (1 cell/µL = 1e-3 × 10^9/L)."""
    if unit not in _PER_1E9_PER_L:
        raise ParameterError(f"unit must be one of {sorted(_PER_1E9_PER_L)}, got {unit!r}; "
                             "convert the counts to one of them")
    counts = float_vector("values", values)
    if (counts < 0).any():
        raise DataError([DataProblem(f"values[{i}] = {counts[i]:g} is a negative count",
                                     "give counts ≥ 0", column="values")
                         for i in np.flatnonzero(counts < 0)])
    return counts * _PER_1E9_PER_L[unit]


def ctcae_grade(values, *, lab: str, unit: str = "10^9/L", lln: float | None = None
                ) -> np.ndarray:
    """CTCAE v5.0 grade (0–4, int) of each count for ``lab`` ("lymphocytes" or
    "neutrophils"); ``unit`` "10^9/L" or "cells/uL"; ``lln`` in 10^9/L (module defaults)."""
    return _grades(to_1e9_per_l(values, unit), _cutoffs(lab, lln))


def _grades(counts: np.ndarray, cut: np.ndarray) -> np.ndarray:
    # Highest grade whose cut-off the count is below: an LLN under the G2 cut-off must not
    # turn a G2 count into G1.
    below = counts[:, None] < cut[None, :]
    highest = cut.size - np.argmax(below[:, ::-1], axis=1)
    return np.where(below.any(axis=1), highest, 0)


def grade_episodes(times, values, *, lab: str, min_grade: int = 3, unit: str = "10^9/L",
                   lln: float | None = None) -> pd.DataFrame:
    """Episodes of grade ≥ ``min_grade`` on the grid ``times`` (days): start, end, duration
    (days), worst_grade, left_censored, right_censored; boundaries by linear interpolation of
    the cut-off crossing (module docstring). CTCAE v5.0."""
    if min_grade not in (1, 2, 3, 4):
        raise ParameterError(f"min_grade must be 1, 2, 3 or 4, got {min_grade!r}; e.g. "
                             "min_grade=3 for grade ≥ 3 episodes")
    t = float_vector("times", times)
    counts = to_1e9_per_l(values, unit)
    same_length(("times", "values"), t, counts)
    increasing_times("times", t)
    cut = _cutoffs(lab, lln)
    threshold = cut[min_grade - 1:].max()
    grades = _grades(counts, cut)
    inside = counts < threshold
    edges = np.diff(inside.astype(int))
    starts, ends = list(np.flatnonzero(edges == 1) + 1), list(np.flatnonzero(edges == -1))
    if inside[0]:
        starts.insert(0, 0)
    if inside[-1]:
        ends.append(t.size - 1)
    rows = []
    for first, last in zip(starts, ends, strict=True):
        start = t[0] if first == 0 else _crossing(t, counts, first - 1, threshold)
        end = t[-1] if last == t.size - 1 else _crossing(t, counts, last, threshold)
        rows.append({"start": start, "end": end, "duration": end - start,
                     "worst_grade": int(grades[first:last + 1].max()),
                     "left_censored": first == 0, "right_censored": last == t.size - 1})
    columns = ["start", "end", "duration", "worst_grade", "left_censored", "right_censored"]
    return pd.DataFrame(rows, columns=columns)


def _crossing(t, y, i, level) -> float:
    """Time between t[i] and t[i+1] where the linear interpolant of y equals ``level``."""
    return float(t[i] + (y[i] - level) / (y[i] - y[i + 1]) * (t[i + 1] - t[i]))
