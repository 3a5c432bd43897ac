"""IMWG multiple-myeloma response from serum M-protein (Kumar et al., Lancet Oncol
2016;17:e328-46).

Per assessment after baseline (``times[0]``), M-protein in g/dL:

* **PD**: ≥ 25 % *and* ≥ 0.5 g/dL above the nadir (the lowest value before this assessment,
  baseline included; IMWG says "lowest confirmed response value" — the lowest prior value is
  used here).
* else by reduction from baseline: **VGPR** ≥ 90 %, **PR** ≥ 50 %, **MR** 25–49 %, **SD** below
  25 %. **NE** where the value is missing (NaN).

Confirmation ("two consecutive assessments", no minimum interval): a VGPR/PR/MR at assessment
``i`` counts once the next evaluable assessment is also a response; the confirmed category is
the worse of the two. PD is confirmed when the next evaluable assessment is PD too; the date of
progression is the first of the pair. SD needs no confirmation. The last assessment cannot be
confirmed.

sCR/CR need a negative immunofixation, < 5 % bone-marrow plasma cells (and for sCR a normal
FLC ratio), which M-protein cannot show: a confirmed response with M-protein undetectable
(≤ ``undetectable``) at both assessments is reported as VGPR with ``cr_eligible`` True
("CR-eligible: needs IFE/BM").

Best response: the best confirmed category before the first confirmed PD; else SD if any
evaluable non-PD assessment precedes it; else PD if PD was confirmed; else NE.
Cut-offs are compared with a 1e-9 slack so that exact decimal boundary values qualify.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, DataProblem
from ._checks import TOLERANCE, float_vector, increasing_times, same_length

_RANK = {"VGPR": 3, "PR": 2, "MR": 1, "SD": 0}
_BY_RANK = {v: k for k, v in _RANK.items()}


@dataclass(frozen=True)
class ImwgResult:
    """Per-assessment IMWG table and subject-level endpoints (time unit of ``times``)."""

    assessments: pd.DataFrame  # time, m_protein, pct_change, nadir, response, confirmed, ...
    best_response: str
    cr_eligible: bool  # best response VGPR with undetectable M-protein: needs IFE/BM for CR
    progression_time: float  # first assessment of the confirmed PD pair; NaN if none


def imwg_timepoint(m_protein: float, baseline: float, nadir: float) -> str:
    """IMWG category of one assessment from M-protein (g/dL): PD, VGPR, PR, MR, SD or NE."""
    if np.isnan(m_protein):
        return "NE"
    rise = m_protein - nadir
    if rise >= 0.5 - TOLERANCE and rise >= 0.25 * nadir - TOLERANCE:
        return "PD"
    reduction = (baseline - m_protein) / baseline
    for name, cut in (("VGPR", 0.9), ("PR", 0.5), ("MR", 0.25)):
        if reduction >= cut - TOLERANCE:
            return name
    return "SD"


def _confirm(responses, m, undetectable):
    """Confirmed category and CR eligibility per assessment (module docstring)."""
    evaluable = [i for i, r in enumerate(responses) if r not in ("NE", "baseline")]
    confirmed, cr_ok = [None] * len(responses), [False] * len(responses)
    for i, j in zip(evaluable, evaluable[1:] + [None], strict=True):
        now, nxt = responses[i], None if j is None else responses[j]
        if now == "SD":
            confirmed[i] = "SD"
        elif now == "PD":
            confirmed[i] = "PD" if nxt == "PD" else None
        elif nxt not in (None, "PD"):
            confirmed[i] = _BY_RANK[min(_RANK[now], _RANK[nxt])]
            cr_ok[i] = confirmed[i] == "VGPR" and max(m[i], m[j]) <= undetectable
    return confirmed, cr_ok


def imwg(times, m_protein, *, undetectable: float = 0.0, min_baseline: float = 0.5
         ) -> ImwgResult:
    """IMWG per-assessment and confirmed responses and best response from serum M-protein.

    ``times`` in days, baseline first; ``m_protein`` in g/dL (NaN = not measured). The baseline
    must be measurable (≥ ``min_baseline`` = 0.5 g/dL, IMWG). Rules: module docstring
    (Kumar 2016).
    """
    t = float_vector("times", times)
    m = float_vector("m_protein", m_protein, allow_nan=True)
    same_length(("times", "m_protein"), t, m)
    increasing_times("times", t)
    problems = [DataProblem(f"m_protein[{i}] = {m[i]:g} is negative", "give g/dL ≥ 0")
                for i in np.flatnonzero(m < 0)]
    if not m[0] >= min_baseline:
        problems.append(DataProblem(
            f"baseline m_protein[0] = {m[0]!r} g/dL is below the measurable-disease level "
            f"{min_baseline:g} g/dL", "M-protein response is undefined; use FLC or other "
            "criteria, or lower min_baseline knowingly"))
    if problems:
        raise DataError(problems)
    responses, nadirs = ["baseline"], [np.nan]
    for i in range(1, t.size):
        nadirs.append(float(np.nanmin(m[:i])))
        responses.append(imwg_timepoint(m[i], m[0], nadirs[-1]))
    confirmed, cr_ok = _confirm(responses, m, undetectable)
    stop = confirmed.index("PD") if "PD" in confirmed else t.size
    ranks = [_RANK[c] for c in confirmed[:stop] if c is not None]
    if ranks:
        best = _BY_RANK[max(ranks)]
    elif any(r in _RANK for r in responses[:stop]):
        best = "SD"  # responses seen but none confirmed
    else:
        best = "PD" if stop < t.size else "NE"
    table = pd.DataFrame({
        "time": t, "m_protein": m, "pct_change_from_baseline": 100.0 * (m - m[0]) / m[0],
        "nadir": nadirs, "response": responses, "confirmed": confirmed, "cr_eligible": cr_ok})
    return ImwgResult(table, best, best == "VGPR" and any(cr_ok[:stop]),
                      float(t[stop]) if stop < t.size else np.nan)
