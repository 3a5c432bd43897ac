"""Treatment intolerance (TI) rule of the MSC-IFNα protocol.

TI after an infusion: a grade 3–4 (CTCAE v5.0) treatment-related adverse event lasting ≥ 7
days within 28 days after the infusion. Read here as: an episode of grade ≥ 3 whose **onset**
lies in ``[t_inf, t_inf + 28]`` (both ends included) and whose duration is ≥ 7 days; the 7 days
may run past day 28. An episode that began before the infusion belongs to an earlier one. An
episode is attributed to every infusion whose window contains its onset (windows overlap when
infusions are < 28 days apart).

Episodes are time spans spent at grade ≥ 3, e.g. from
``grade_episodes(..., min_grade=3)``; every episode passed is taken as treatment-related.
Durations are compared with a 1e-9-day slack so that 7 days computed from floats qualify. An
episode that is still under way at the end of follow-up (``right_censored``) with less than 7
days observed makes the outcome *indeterminate* rather than silently "no TI".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, DataProblem
from ._checks import TOLERANCE, float_vector


def _episode_table(episodes) -> pd.DataFrame:
    if not isinstance(episodes, pd.DataFrame):
        episodes = pd.DataFrame(list(episodes), columns=["start", "end", "worst_grade"])
    missing = [c for c in ("start", "end", "worst_grade") if c not in episodes.columns]
    if missing:
        raise DataError(DataProblem(f"episodes lack column(s) {missing}",
                                    "pass grade_episodes(...) output or (start, end, grade) rows"))
    problems = []
    for row, (start, end, grade) in enumerate(
            episodes[["start", "end", "worst_grade"]].itertuples(index=False)):
        if not (np.isfinite(start) and np.isfinite(end) and end >= start):
            problems.append(DataProblem(f"episode start {start!r}, end {end!r} is not an "
                                        "interval", "give finite start ≤ end in days", row + 1))
        if grade not in (0, 1, 2, 3, 4):
            problems.append(DataProblem(f"worst_grade {grade!r} is not a CTCAE grade 0–4",
                                        "give an integer grade", row + 1, "worst_grade"))
    if problems:
        raise DataError(problems, "episodes")
    return episodes


def treatment_intolerance(episodes, infusion_times, *, window_days: float = 28.0,
                          min_duration_days: float = 7.0, min_grade: int = 3) -> pd.DataFrame:
    """Per infusion: ``infusion_time``, ``intolerance`` (TI met), ``episode`` (row of the first
    qualifying episode, -1 if none) and ``indeterminate`` (a censored grade ≥ 3 episode with
    onset in the window was observed < 7 days). Times in days. Rule: module docstring.

    ``episodes``: DataFrame with ``start``, ``end``, ``worst_grade`` (optional
    ``right_censored``), or (start, end, worst_grade) tuples.
    """
    table = _episode_table(episodes)
    infusions = float_vector("infusion_times", infusion_times)
    start = table["start"].to_numpy(dtype=np.float64)
    duration = table["end"].to_numpy(dtype=np.float64) - start
    severe = table["worst_grade"].to_numpy() >= min_grade
    censored = (table["right_censored"].to_numpy(dtype=bool) if "right_censored" in table
                else np.zeros(len(table), dtype=bool))
    rows = []
    for t_inf in infusions:
        onset_ok = severe & (start >= t_inf - TOLERANCE) & (start <= t_inf + window_days
                                                              + TOLERANCE)
        long_enough = duration >= min_duration_days - TOLERANCE
        hits = np.flatnonzero(onset_ok & long_enough)
        rows.append({"infusion_time": t_inf, "intolerance": hits.size > 0,
                     "episode": int(hits[0]) if hits.size else -1,
                     "indeterminate": hits.size == 0 and bool((onset_ok & censored).any())})
    return pd.DataFrame(rows, columns=["infusion_time", "intolerance", "episode",
                                       "indeterminate"])
