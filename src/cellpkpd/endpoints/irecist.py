"""iRECIST response for immunotherapy (Seymour et al., Lancet Oncol 2017;18:e143-52).

Each assessment is first read with RECIST 1.1 (`recist.timepoint_response`: PD against the nadir
of all earlier SLDs, PR/CR against baseline, and any disease seen again after a CR is PD). Then:

* The first RECIST PD is **iUPD** (unconfirmed progression).
* It becomes **iCPD** at the first later assessment, however much later, that shows (Seymour
  2017, Table 2):

  - SLD ≥ 5 mm above the SLD at the iUPD assessment ("Remains iUPD unless iCPD is confirmed
    on the basis of a further increase in sum of measures ≥ 5 mm"). Increases add up: the
    reference is the SLD at iUPD, not the previous assessment (EORTC FAQ, "sequential
    increases are additive"), so 125 → 129 → 131 mm after an iUPD at 125 mm confirms at 131;
  - a new lesion not seen before ("an increase in ... number" of new lesions);
  - new-lesion growth: the sum of the measured new lesions (``new_lesion_sld``) ≥ 5 mm above its
    value at iUPD ("≥ 5 mm in sum of measures for new lesion target");
  - if the iUPD came from new lesions alone, target progression by RECIST 1.1 against the
    nadir (progression in a category that had not met RECIST 1.1 PD before).

  The recommended 4–8 weeks is the timing of the confirmatory scan, not a validity limit:
  there is no window outside which confirmation is impossible.
* It **resets** when an assessment no longer meets RECIST PD and no new lesion remains: that
  assessment is iSD/iPR/iCR, and a later iUPD again needs PD against the nadir.
* After iCPD every assessment is reported as iCPD.

``new_lesion[i]`` is True when a lesion not seen before appears at assessment ``i``.
``new_lesion_present[i]`` says whether any earlier new lesion is still there; by default one is
assumed to persist from its first appearance on (iRECIST keeps iUPD while it does), so an iUPD
caused by new lesions can only reset if ``new_lesion_present`` says they resolved.

Reported responses follow ``pr_convention`` as in RECIST 1.1 (`cellpkpd.endpoints.recist`): by
default iSD after the first confirmed iPR is reported iPR until the first iUPD (EORTC FAQ: "The
same principles hold for iRECIST"); ``criteria_response`` keeps the criteria's reading.

Best overall iRECIST response: iCR/iPR confirmed as in RECIST 1.1 (iUPD between counts as a
worse response), else iSD by the SD-duration rule, else iCPD, else iUPD, else iNE.
Non-target lesions are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, DataProblem
from ._checks import TOLERANCE, bool_vector, float_vector
from .recist import (
    best_response,
    read_assessments,
    reported_responses,
    target_progression,
    timepoint_response,
)  # fmt: skip

_AS_RECIST = {"iCR": "CR", "iPR": "PR", "iSD": "SD", "iNE": "NE", "iUPD": "UPD", "iCPD": "PD"}


@dataclass(frozen=True)
class IrecistResult:
    """Per-assessment iRECIST table and subject-level endpoints (time unit of ``times``)."""

    assessments: pd.DataFrame
    best_response: str
    first_iupd_time: float  # NaN if none
    icpd_time: float  # NaN if progression was never confirmed


def _confirms(growth: float, new_here: bool, new_growth: float, target_pd: bool,
              upd_from_target: bool) -> bool:
    """Does an assessment after the iUPD, with SLD ``growth`` mm and new-lesion SLD
    ``new_growth`` mm above their values at iUPD, confirm it? (module docstring; no time
    window)"""
    return (growth >= 5.0 - TOLERANCE or new_here or new_growth >= 5.0 - TOLERANCE
            or (target_pd and not upd_from_target))


def _new_lesion_sld(values, n: int) -> np.ndarray:
    """Sum of the measured new lesions (mm) per assessment; NaN where none is measured."""
    if values is None:
        return np.full(n, np.nan)
    out = float_vector("new_lesion_sld", values, allow_nan=True)
    if out.size != n:
        raise DataError(DataProblem(f"new_lesion_sld has {out.size} values for {n} "
                                    "assessments", "give one value per assessment (NaN where "
                                    "no new lesion is measured)"))
    if (out < 0).any():
        raise DataError(DataProblem(f"new_lesion_sld has negative values at "
                                    f"{np.flatnonzero(out < 0).tolist()}", "give mm ≥ 0"))
    return out


def irecist(times, sld, *, new_lesion=None, new_lesion_present=None, new_lesion_sld=None,
            nodal_short_axes=None, confirm_days: float = 28.0, sd_min_days: float = 42.0,
            confirm: bool = True, pr_convention: str = "maintain") -> IrecistResult:
    """iRECIST per-assessment responses (iCR/iPR/iSD/iUPD/iCPD/iNE) and best overall response.

    Inputs as `cellpkpd.endpoints.recist.recist` (days, mm), plus ``new_lesion_present``
    (booleans) and ``new_lesion_sld`` (sum of the measured new lesions, mm, NaN where none),
    see the module docstring. Rules: module docstring (Seymour 2017).
    """
    t, s, new, nodes = read_assessments(times, sld, new_lesion, nodal_short_axes)
    new_sld = _new_lesion_sld(new_lesion_sld, t.size)
    if new_lesion_present is None:
        present = np.logical_or.accumulate(new)
    else:
        present = bool_vector("new_lesion_present", new_lesion_present, t.size)
        if (new & ~present).any():
            raise DataError(DataProblem(
                f"new_lesion_present is False at {np.flatnonzero(new & ~present).tolist()} "
                "where new_lesion is True", "a lesion that appears is present"))
    responses, pending, upd_from_target, confirmed, cr_seen = ["baseline"], None, False, None, False
    for i in range(1, t.size):
        if confirmed is not None:
            responses.append("iCPD")
            continue
        nadir = float(np.nanmin(s[:i]))
        recist_response = timepoint_response(s[i], s[0], nadir, bool(new[i]),
                                             None if nodes is None else nodes[i],
                                             after_cr=cr_seen)
        cr_seen |= recist_response == "CR"
        if recist_response == "NE":
            responses.append("iNE")  # neither confirms nor resets
        elif pending is None:
            if recist_response == "PD":
                pending = i
                upd_from_target = not np.isnan(s[i]) and target_progression(s[i], nadir)
            responses.append("iUPD" if pending is not None else "i" + recist_response)
        elif _confirms(s[i] - s[pending], bool(new[i]), _growth(new_sld, i, pending),
                       not np.isnan(s[i]) and target_progression(s[i], nadir),
                       upd_from_target):
            confirmed = i
            responses.append("iCPD")
        elif recist_response != "PD" and not present[i]:
            pending = None
            responses.append("i" + recist_response)
        else:
            responses.append("iUPD")
    mapped = [_AS_RECIST.get(r, r) for r in responses]
    best, _ = best_response(t.tolist(), mapped, confirm_days=confirm_days,
                            sd_min_days=sd_min_days, confirm=confirm)
    if best is not None:
        best = "i" + best
    elif confirmed is not None:
        best = "iCPD"
    else:
        best = "iUPD" if "iUPD" in responses else "iNE"
    reported = reported_responses(t.tolist(), responses, pr_convention=pr_convention,
                                  confirm=confirm, confirm_days=confirm_days, prefix="i")
    table = pd.DataFrame({"time": t, "sld": s, "new_lesion": new,
                          "new_lesion_present": present, "new_lesion_sld": new_sld,
                          "response": reported, "criteria_response": responses})
    first_upd = responses.index("iUPD") if "iUPD" in responses else None
    return IrecistResult(table, best, np.nan if first_upd is None else float(t[first_upd]),
                         np.nan if confirmed is None else float(t[confirmed]))


def _growth(new_sld: np.ndarray, i: int, pending: int) -> float:
    """New-lesion SLD growth since iUPD (mm); a new lesion first measured after the iUPD
    counts from 0 mm. NaN (nothing measured now) confirms nothing."""
    before = 0.0 if np.isnan(new_sld[pending]) else new_sld[pending]
    return float(new_sld[i] - before)
