"""iRECIST response for immunotherapy (Seymour et al., Lancet Oncol 2017;18:e143-52).

Each assessment is first read with RECIST 1.1 (`recist.timepoint_response`: PD against the nadir
of all earlier SLDs, PR/CR against baseline). Then:

* The first RECIST PD is **iUPD** (unconfirmed progression).
* It becomes **iCPD** at an assessment ``confirm_window`` = 28–56 days (4–8 weeks) after the
  iUPD assessment that shows SLD ≥ 5 mm above the SLD at iUPD, or a further new lesion, or — if
  the iUPD came from new lesions alone — target progression by RECIST 1.1 against the nadir.
  A progression sign seen outside the window does not confirm: the status stays iUPD, and an
  iUPD with no assessment in the window stays unconfirmed (iUPD) until it resets.
* It **resets** when an assessment no longer meets RECIST PD and no new lesion remains: that
  assessment is iSD/iPR/iCR, and a later iUPD again needs PD against the nadir.
* After iCPD every assessment is reported as iCPD.

``new_lesion[i]`` is True when a lesion not seen before appears at assessment ``i``.
``new_lesion_present[i]`` says whether any earlier new lesion is still there; by default one is
assumed to persist from its first appearance on (iRECIST keeps iUPD while it does), so an iUPD
caused by new lesions can only reset if ``new_lesion_present`` says they resolved.

Best overall iRECIST response: iCR/iPR confirmed as in RECIST 1.1 (iUPD between counts as a
worse response), else iSD by the SD-duration rule, else iCPD, else iUPD, else iNE.
Increase in size of new lesions (new-lesion SLD) and non-target lesions are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, DataProblem
from ._checks import TOLERANCE, bool_vector
from .recist import best_response, read_assessments, target_progression, timepoint_response

_AS_RECIST = {"iCR": "CR", "iPR": "PR", "iSD": "SD", "iNE": "NE", "iUPD": "UPD", "iCPD": "PD"}


@dataclass(frozen=True)
class IrecistResult:
    """Per-assessment iRECIST table and subject-level endpoints (time unit of ``times``)."""

    assessments: pd.DataFrame
    best_response: str
    first_iupd_time: float  # NaN if none
    icpd_time: float  # NaN if progression was never confirmed


def _confirms(elapsed: float, growth: float, new_here: bool, target_pd: bool,
              upd_from_target: bool, window: tuple[float, float]) -> bool:
    """Does an assessment ``elapsed`` days after the iUPD, with SLD ``growth`` mm above the SLD
    at iUPD, confirm it? (module docstring)"""
    in_window = window[0] - TOLERANCE <= elapsed <= window[1] + TOLERANCE
    return in_window and (growth >= 5.0 - TOLERANCE or new_here
                          or (target_pd and not upd_from_target))


def irecist(times, sld, *, new_lesion=None, new_lesion_present=None, nodal_short_axes=None,
            confirm_window: tuple[float, float] = (28.0, 56.0), confirm_days: float = 28.0,
            sd_min_days: float = 42.0, confirm: bool = True) -> IrecistResult:
    """iRECIST per-assessment responses (iCR/iPR/iSD/iUPD/iCPD/iNE) and best overall response.

    Inputs as `cellpkpd.endpoints.recist.recist` (days, mm), plus ``new_lesion_present``
    (booleans, see the module docstring). Rules: module docstring (Seymour 2017).
    """
    t, s, new, nodes = read_assessments(times, sld, new_lesion, nodal_short_axes)
    if new_lesion_present is None:
        present = np.logical_or.accumulate(new)
    else:
        present = bool_vector("new_lesion_present", new_lesion_present, t.size)
        if (new & ~present).any():
            raise DataError(DataProblem(
                f"new_lesion_present is False at {np.flatnonzero(new & ~present).tolist()} "
                "where new_lesion is True", "a lesion that appears is present"))
    responses, pending, upd_from_target, confirmed = ["baseline"], None, False, None
    for i in range(1, t.size):
        if confirmed is not None:
            responses.append("iCPD")
            continue
        nadir = float(np.nanmin(s[:i]))
        recist_response = timepoint_response(s[i], s[0], nadir, bool(new[i]),
                                             None if nodes is None else nodes[i])
        if recist_response == "NE":
            responses.append("iNE")  # neither confirms nor resets
        elif pending is None:
            if recist_response == "PD":
                pending = i
                upd_from_target = not np.isnan(s[i]) and target_progression(s[i], nadir)
            responses.append("iUPD" if pending is not None else "i" + recist_response)
        elif _confirms(t[i] - t[pending], s[i] - s[pending], bool(new[i]),
                       not np.isnan(s[i]) and target_progression(s[i], nadir),
                       upd_from_target, confirm_window):
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
    table = pd.DataFrame({"time": t, "sld": s, "new_lesion": new,
                          "new_lesion_present": present, "response": responses})
    first_upd = responses.index("iUPD") if "iUPD" in responses else None
    return IrecistResult(table, best, np.nan if first_upd is None else float(t[first_upd]),
                         np.nan if confirmed is None else float(t[confirmed]))
