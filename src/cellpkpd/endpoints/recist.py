"""RECIST 1.1 response from target-lesion sums (Eisenhauer et al., Eur J Cancer 2009;45:228-47).

Per assessment after baseline (``times[0]``), in this order of precedence:

* **PD**: a new lesion, or SLD ≥ 20 % above the nadir *and* ≥ 5 mm above it. The nadir is the
  smallest SLD before the current assessment, baseline included. After a CR at an earlier
  assessment, any disease seen again (SLD − Σ nodes > 0, or a node ≥ 10 mm) is PD, even if it
  meets PR criteria against baseline (Eisenhauer 2009, note to Table 3: "If a CR is truly met
  at first time point, then any disease seen at a subsequent time point, even disease meeting PR
  criteria relative to baseline, makes the disease PD at that point (since disease must have
  reappeared after CR)"; the EORTC RECIST FAQ agrees).
* **CR**: SLD 0; with ``nodal_short_axes`` given (the SLD then includes them), every non-nodal
  target gone (SLD − Σ nodes = 0) and every node < 10 mm short axis.
* **PR**: SLD ≥ 30 % below baseline.
* **SD**: otherwise. **NE**: SLD missing (NaN) and no new lesion.

Reported per-assessment response (``pr_convention``): with ``"maintain"`` (default, the EORTC
RECIST FAQ "Managing PR when TP measurements change slightly over time": "once a PR has been
assigned, and confirmed (if required), then the best response is always PR even if subsequent
TP measurements no longer quite meet the criteria (providing that the criteria for PD are not
met)"), an assessment after the first confirmed PR that meets only SD criteria is reported as
PR. With ``"criteria"`` each assessment is reported as its own criteria read it. The column
``criteria_response`` always holds the latter; best response, PFS and DOR come from it, so the
convention changes neither.

Non-target lesions are not modelled. Cut-offs are compared with a 1e-9 slack so that decimal
boundary values (exactly 30 %, exactly 5 mm) qualify.

Best overall response (BOR) uses the assessments up to the first PD. With ``confirm=True``
(single-arm trials) a CR or PR at assessment ``i`` is confirmed by a later assessment ≥
``confirm_days`` (28) after it whose response is the same or better, with no worse response in
between (NE is skipped). Without a confirmed CR/PR, BOR is SD if some assessment with SD or an
unconfirmed PR/CR lies ≥ ``sd_min_days`` (42) after baseline; else PD if progression was seen;
else NE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, DataProblem, ParameterError
from ._checks import TOLERANCE, bool_vector, float_vector, increasing_times, same_length

_RANK = {"CR": 2, "PR": 1}  # higher is better; anything else ranks below PR


@dataclass(frozen=True)
class RecistResult:
    """Per-assessment table and subject-level RECIST 1.1 endpoints (times in the unit of
    ``times``; PFS and DOR on the same clock, so pass times from treatment start)."""

    assessments: pd.DataFrame
    best_response: str
    response_onset: float  # first assessment of the confirmed response; NaN if none
    pfs_time: float  # first PD, or last evaluable assessment if censored
    pfs_event: bool
    dor: float  # response onset to PD (or to last evaluable assessment); NaN if no response
    dor_event: bool


def target_progression(sld: float, nadir: float) -> bool:
    """RECIST 1.1 target PD: ≥ 20 % and ≥ 5 mm above the nadir (mm)."""
    rise = sld - nadir
    return bool(rise >= 5.0 - TOLERANCE and rise >= 0.2 * nadir - TOLERANCE)


def disease_present(sld: float, nodes=None) -> bool:
    """Is any target disease left: a non-nodal diameter (SLD − Σ nodes > 0 mm) or a node
    ≥ 10 mm short axis? (RECIST 1.1 CR: all non-nodal targets gone, every node < 10 mm.)"""
    nodal = 0.0 if nodes is None else float(np.sum(nodes))
    return bool(sld - nodal > TOLERANCE
                or (nodes is not None and np.any(np.asarray(nodes) >= 10.0)))


def timepoint_response(sld: float, baseline: float, nadir: float, new_lesion: bool,
                       nodes=None, *, after_cr: bool = False) -> str:
    """RECIST 1.1 response of one assessment (CR/PR/SD/PD/NE); SLD, nodes in mm.
    ``after_cr``: an earlier assessment was a CR, so any disease seen now is PD (module
    docstring)."""
    if new_lesion:
        return "PD"
    if np.isnan(sld):
        return "NE"
    if target_progression(sld, nadir):
        return "PD"
    if not disease_present(sld, nodes):
        return "CR"
    if after_cr:
        return "PD"
    if baseline - sld >= 0.3 * baseline - TOLERANCE:
        return "PR"
    return "SD"


def _confirmed(times, responses, i, level, confirm_days, stop) -> bool:
    for j in range(i + 1, stop):
        if responses[j] == "NE":
            continue
        if _RANK.get(responses[j], 0) < level:
            return False
        if times[j] - times[i] >= confirm_days - TOLERANCE:
            return True
    return False


def best_response(times, responses, *, confirm_days: float = 28.0, sd_min_days: float = 42.0,
                  confirm: bool = True, progression: str = "PD") -> tuple[str | None, int | None]:
    """Best of CR/PR/SD under the RECIST 1.1 confirmation rules (module docstring), and the
    index of the first assessment of the confirmed response. ``responses[0]`` is the baseline
    and ignored; labels other than CR/PR/SD/NE rank below SD. Returns ``(None, None)`` when no
    CR/PR/SD qualifies. Shared by iRECIST (labels mapped to CR/PR/SD/NE/PD)."""
    stop = responses.index(progression) if progression in responses else len(responses)
    for level, name in ((2, "CR"), (1, "PR")):
        for i in range(1, stop):
            if _RANK.get(responses[i], 0) >= level and (
                    not confirm or _confirmed(times, responses, i, level, confirm_days, stop)):
                return name, _first_response(times, responses, stop, confirm, confirm_days)
    for i in range(1, stop):
        if responses[i] in ("CR", "PR", "SD") and times[i] - times[0] >= sd_min_days - TOLERANCE:
            return "SD", None
    return None, None


def _first_response(times, responses, stop, confirm, confirm_days) -> int:
    """First assessment whose ≥PR response is confirmed (DOR starts there)."""
    return next(i for i in range(1, stop) if _RANK.get(responses[i], 0) >= 1 and (
        not confirm or _confirmed(times, responses, i, 1, confirm_days, stop)))


def read_assessments(times, sld, new_lesion, nodal_short_axes):
    """Checked arrays: times (strictly increasing), SLD (mm, NaN = not evaluated after
    baseline), new-lesion flags and nodal short axes (n_assessments × n_nodes, mm) or None."""
    t = float_vector("times", times)
    s = float_vector("sld", sld, allow_nan=True)
    same_length(("times", "sld"), t, s)
    increasing_times("times", t)
    new = bool_vector("new_lesion", new_lesion, t.size)
    problems = []
    if not s[0] > 0:
        problems.append(DataProblem(f"baseline sld[0] = {s[0]!r} is not a positive SLD",
                                    "RECIST needs measurable disease at baseline (SLD > 0 mm)"))
    if new[0]:
        problems.append(DataProblem("new_lesion[0] is True at baseline",
                                    "lesions present at baseline are not new; set it False"))
    problems += [DataProblem(f"sld[{i}] = {s[i]:g} is negative", "give the SLD in mm, ≥ 0")
                 for i in np.flatnonzero(s < 0)]
    nodes = None
    if nodal_short_axes is not None:
        nodes = np.asarray(nodal_short_axes, dtype=np.float64)
        if nodes.ndim == 1:
            nodes = nodes[:, None]
        if nodes.shape[0] != t.size:
            raise DataError(DataProblem(f"nodal_short_axes has {nodes.shape[0]} rows for "
                                        f"{t.size} assessments", "give one row per assessment"))
        excess = np.nansum(nodes, axis=1) > s + TOLERANCE
        problems += [DataProblem(f"nodal_short_axes[{i}] sum to more than sld[{i}]",
                                 "the SLD must include the nodal short axes") for i in
                     np.flatnonzero(excess)]
    if problems:
        raise DataError(problems)
    return t, s, new, nodes


def criteria_responses(s, new, nodes) -> tuple[list[str], list[float]]:
    """Per-assessment RECIST 1.1 responses as the criteria read them (``"baseline"`` first),
    with the CR rule (module docstring), and the nadir each was compared with."""
    responses, nadirs, cr_seen = ["baseline"], [np.nan], False
    for i in range(1, s.size):
        nadir = float(np.nanmin(s[:i]))
        nadirs.append(nadir)
        response = timepoint_response(s[i], s[0], nadir, bool(new[i]),
                                      None if nodes is None else nodes[i], after_cr=cr_seen)
        cr_seen |= response == "CR"
        responses.append(response)
    return responses, nadirs


PR_CONVENTIONS = ("maintain", "criteria")


def reported_responses(times, responses, *, pr_convention: str, confirm: bool,
                       confirm_days: float, prefix: str = "") -> list[str]:
    """The per-assessment responses to report: ``responses`` (criteria), with SD after the
    first confirmed PR reported as PR until the first PD under ``pr_convention="maintain"``
    (module docstring). iRECIST passes ``prefix="i"`` (iPR, iSD, and iUPD as the stop)."""
    if pr_convention not in PR_CONVENTIONS:
        raise ParameterError(f"pr_convention={pr_convention!r} is not a known convention; "
                             f"use one of {PR_CONVENTIONS}")
    out = list(responses)
    if pr_convention == "criteria":
        return out
    bare = [r[len(prefix):] if prefix and r.startswith(prefix) else r for r in responses]
    progression = "UPD" if prefix else "PD"
    stop = bare.index(progression) if progression in bare else len(bare)
    first = next((i for i in range(1, stop) if _RANK.get(bare[i], 0) >= 1 and (
        not confirm or _confirmed(times, bare, i, 1, confirm_days, stop))), None)
    if first is not None:
        out[first:stop] = [prefix + "PR" if r == prefix + "SD" else r for r in out[first:stop]]
    return out


def recist(times, sld, *, new_lesion=None, nodal_short_axes=None, confirm_days: float = 28.0,
           sd_min_days: float = 42.0, confirm: bool = True,
           pr_convention: str = "maintain") -> RecistResult:
    """RECIST 1.1 per-assessment responses, confirmed best overall response, PFS and DOR.

    ``times`` in days with the baseline assessment first; ``sld`` the sum of target-lesion
    diameters in mm (NaN = not evaluated); ``new_lesion`` True where an unequivocal new lesion is
    seen; ``nodal_short_axes`` per assessment, mm; ``pr_convention`` ``"maintain"`` (EORTC
    FAQ) or ``"criteria"``, for the reported per-assessment response only. Rules: module
    docstring (Eisenhauer 2009).
    PFS event = first PD (censored at the last evaluable assessment); DOR runs from the first
    assessment of the confirmed CR/PR to PD. Deaths are not seen here; add them with
    `cellpkpd.endpoints.pfs_times`.
    """
    t, s, new, nodes = read_assessments(times, sld, new_lesion, nodal_short_axes)
    responses, nadirs = criteria_responses(s, new, nodes)
    reported = reported_responses(t.tolist(), responses, pr_convention=pr_convention,
                                  confirm=confirm, confirm_days=confirm_days)
    table = pd.DataFrame({
        "time": t, "sld": s, "pct_change_from_baseline": 100.0 * (s - s[0]) / s[0],
        "nadir": nadirs, "change_from_nadir_mm": s - np.array(nadirs), "new_lesion": new,
        "response": reported, "criteria_response": responses})
    best, onset = best_response(t.tolist(), responses, confirm_days=confirm_days,
                                sd_min_days=sd_min_days, confirm=confirm)
    progressed = "PD" in responses
    if best is None:
        best = "PD" if progressed else "NE"
    evaluable = [i for i, r in enumerate(responses) if r != "NE"]
    pfs_time = t[responses.index("PD")] if progressed else t[evaluable[-1]]
    onset_time = np.nan if onset is None else float(t[onset])
    return RecistResult(table, best, onset_time, float(pfs_time), progressed,
                        float(pfs_time - onset_time), progressed and onset is not None)
