"""IMWG uniform response criteria for multiple myeloma (Kumar et al., Lancet Oncol
2016;17:e328-46, Table 6, after Durie 2006 and Rajkumar 2011).

Inputs per assessment (baseline first; NaN = not measured): serum M-protein (g/dL), 24-h urine
M-protein (mg/24 h), serum free light chains κ and λ (mg/dL), serum and urine immunofixation
(IFE) negative, bone-marrow plasma cells (%), clonal plasma cells in the marrow (IHC/flow),
soft-tissue plasmacytomas (sum of the products of the diameters, SPD, cm²) and new lesions.

**Disease type at baseline**: serum M ≥ 0.5 g/dL, or urine M ≥ 200 mg/24 h ("M-protein
disease"); else involved FLC ≥ 10 mg/dL with an abnormal κ/λ ratio (outside 0.26–1.65; the
involved chain is κ above, λ below; "FLC disease"); else, serum, urine and FLC being
unmeasurable, marrow plasma cells ≥ 30 % ("marrow disease": "If serum and urine M-protein are
unmeasurable, and serum free light assay is also unmeasurable, ≥50% reduction in plasma cells
is required in place of M-protein, provided baseline bone marrow plasma-cell percentage was
≥30%"). A patient with none of them is reported ``"not measurable"`` and not graded; if a
missing baseline value (serum, urine, FLC or, for the marrow route, the marrow) leaves the type
open, the patient is ``"NE"`` (disease ``"unknown"``), never a guess.

**Categories** of one assessment, the best whose criteria are met:

* **sCR**: CR, a normal FLC ratio, and no clonal plasma cells in the marrow.
* **CR**: negative serum and urine IFE, < 5 % plasma cells in the marrow, and disappearance of
  any soft-tissue plasmacytoma; FLC disease also needs a normal FLC ratio. An M-protein still
  above ``undetectable`` on electrophoresis means IFE is positive.
* **VGPR**: ≥ 90 % reduction of serum M plus urine M < 100 mg/24 h; FLC disease: ≥ 90 % decrease
  in the difference between involved and uninvolved FLC (dFLC). Not defined for marrow disease.
* **PR**: ≥ 50 % reduction of serum M plus a ≥ 90 % reduction of urine M or urine M < 200 mg/24 h;
  FLC disease: ≥ 50 % decrease in dFLC; marrow disease: ≥ 50 % reduction of the marrow plasma
  cells from baseline; plus, if present at baseline, ≥ 50 % reduction of the plasmacytoma SPD
  (also required for VGPR).
* **MR**: 25–49 % reduction of serum M plus a 50–89 % reduction of urine M; if present at baseline,
  25–49 % reduction of the plasmacytoma SPD. Not defined for FLC or marrow disease.
* **SD**: none of the above, and not PD.
* **PD**, any of ("Increase of 25% from lowest confirmed response value in one or more of the
  following"):

  - serum M ≥ 25 % and ≥ 0.5 g/dL above the reference; ≥ 1 g/dL suffices when the reference
    is ≥ 5 g/dL;
  - urine M ≥ 25 % and ≥ 200 mg/24 h above the reference;
  - only without measurable serum and urine M-protein (FLC and marrow disease, with an
    involved chain from an abnormal baseline ratio): dFLC ≥ 25 % and *more than* 10 mg/dL above
    the reference ("absolute increase must be >10 mg/dL");
  - only for marrow disease ("without measurable serum and urine M-protein levels and without
    measurable involved FLC levels"): marrow plasma cells ≥ 25 % and ≥ 10 percentage points
    above the lowest earlier marrow ("absolute increase must be ≥10%");
  - a new lesion; the plasmacytoma SPD ≥ 50 % above its lowest earlier value, or a
    plasmacytoma where none was left (or none was there at baseline).

  The **reference** of the laboratory criteria (serum, urine, dFLC) is the lowest *confirmed*
  value before the assessment: a level held by two consecutive measurements, i.e. the smallest
  over consecutive pairs of measured values of the larger of the two (a single low value is not
  confirmed until the next measurement; missing values are skipped), or the baseline if lower.
  A lone low value (a spurious result) therefore does not lower the reference. Marrow
  assessments "need not be confirmed", so the marrow reference is the lowest earlier marrow,
  baseline included.

The serum criteria apply when serum M is measurable at baseline, the urine reductions when
urine M is; a non-measurable urine M must still be measured (< 100 or < 200 mg/24 h), so
``urine_m_protein=None`` leaves VGPR, PR and MR not evaluable for M-protein disease.

**Missing inputs**: a criterion whose input is missing is neither met nor failed. An
assessment is graded with the best category whose criteria are all met; the better categories
that could not be decided are listed in the column ``not_evaluable`` (e.g. CR without an IFE).
When no category is met and one of them could not be decided, the assessment is **NE**, never
a guess. Immunofixation, marrow and imaging are optional by default: ``ife_negative``,
``bm_plasma_cells`` and ``bm_clonal`` ``None`` leave sCR/CR (and the PR of marrow disease) not
evaluable; ``plasmacytoma_spd`` and ``new_lesion`` ``None`` mean no known plasmacytoma and no
new lesion (IMWG requires imaging only where disease is known). A PD criterion whose input is
missing is not met.

Bone-marrow assessments "need not be confirmed": each assessment uses the latest marrow result
taken after baseline, at or before it.

**Confirmation** ("two consecutive assessments", no minimum interval): a category at assessment
``i`` counts once the next evaluable assessment (NE is skipped) is also a response; the
confirmed category is the worse of the two. Laboratory PD (serum, urine, FLC) is confirmed when
the next evaluable assessment is PD too, the date of progression being the first of the pair;
PD by imaging (new lesion, plasmacytoma) or by the marrow needs no confirmation. SD needs none.
The last assessment cannot confirm a response or a laboratory PD.

Best response: the best confirmed category before the first confirmed PD; else SD if any
evaluable non-PD assessment precedes it; else PD if PD was confirmed; else NE. The response
onset (for the duration of response) is the first assessment of the first confirmed ≥ PR,
"the date of the initial test" of the confirming pair; the DOR runs from it to the confirmed
PD, or, censored, to the last evaluable assessment.
Cut-offs are compared with a 1e-9 slack so that exact decimal boundary values qualify (and,
for the strict "> 10 mg/dL", do not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._checks import TOLERANCE
from ._imwg_inputs import FLC_NORMAL, ImwgInputs, read_inputs

CATEGORIES = ("sCR", "CR", "VGPR", "PR", "MR")
RESPONSES = ("sCR", "CR", "VGPR", "PR")  # ≥ PR: the IMWG responders
_RANK = {"sCR": 6, "CR": 5, "VGPR": 4, "PR": 3, "MR": 2, "SD": 1}
_BY_RANK = {v: k for k, v in _RANK.items()}


@dataclass(frozen=True)
class ImwgResult:
    """Per-assessment IMWG table and subject-level endpoints (time unit of ``times``).
    ``disease``: ``"serum"``, ``"urine"``, ``"serum+urine"``, ``"flc"``, ``"marrow"``, ``"not
    measurable"`` or ``"unknown"`` (a missing baseline value leaves it open). Deaths are not
    seen here; add them to the PFS and DOR with `cellpkpd.endpoints.pfs_times` and
    `cellpkpd.endpoints.dor_times`."""

    assessments: pd.DataFrame  # time, inputs, response, not_evaluable, pd_reason, confirmed
    best_response: str
    cr_eligible: bool  # best VGPR confirmed where CR could not be evaluated (IFE/marrow missing)
    progression_time: float  # first assessment of the confirmed PD; NaN if none
    disease: str = "serum"
    response_onset: float = np.nan  # first assessment of the first confirmed ≥ PR; NaN if none
    last_assessment: float = np.nan  # last evaluable assessment (censoring); NaN if none
    dor: float = np.nan  # response onset to the confirmed PD, or to last_assessment if none
    dor_event: bool = False  # the DOR ends with a confirmed PD


def imwg_timepoint(m_protein: float, baseline: float, nadir: float) -> str:
    """The serum M-protein criterion alone (g/dL), for one assessment: PD, VGPR, PR, MR, SD or
    NE. It ignores urine, IFE, marrow and plasmacytomas, so it is not an IMWG category; use
    `imwg` for that."""
    if np.isnan(m_protein):
        return "NE"
    if _serum_progression(m_protein, nadir):
        return "PD"
    reduction = (baseline - m_protein) / baseline
    for name, cut in (("VGPR", 0.9), ("PR", 0.5), ("MR", 0.25)):
        if reduction >= cut - TOLERANCE:
            return name
    return "SD"


# -- three-valued logic: True, False, or None (an input is missing) --------------------------

def _all(*conditions):
    if any(c is False for c in conditions):
        return False
    return None if any(c is None for c in conditions) else True


def _cmp(value: float, limit: float, below: bool = True):
    """``value < limit`` (``below``) or ``value ≥ limit``; None if ``value`` is missing."""
    if np.isnan(value):
        return None
    return bool(value < limit - TOLERANCE) if below else bool(value >= limit - TOLERANCE)


def _reduced(now: float, base: float, fraction: float):
    """Reduced by at least ``fraction`` of ``base``?"""
    return None if np.isnan(now) else bool(base - now >= fraction * base - TOLERANCE)


def _rises(now: float, nadir: float, fraction: float, absolute: float, *,
           strictly: bool = False) -> bool:
    """``now`` ≥ ``fraction`` above ``nadir`` and ≥ ``absolute`` above it (> if ``strictly``);
    False if either is missing."""
    if not (np.isfinite(now) and np.isfinite(nadir)):
        return False
    rise = now - nadir
    enough = rise > absolute + TOLERANCE if strictly else rise >= absolute - TOLERANCE
    return bool(enough and rise >= fraction * nadir - TOLERANCE)


def confirmed_nadir(values, i: int) -> float:
    """The PD reference at assessment ``i``: the lowest confirmed value before it (module
    docstring). Over the measured values before ``i`` (missing ones skipped), a value counts
    once the next measured value confirms the level, so each consecutive pair contributes the
    larger of the two; the baseline ``values[0]`` counts alone. NaN if nothing was measured."""
    values = np.asarray(values, dtype=np.float64)
    before = values[:i]
    measured = before[np.isfinite(before)]
    candidates = list(np.maximum(measured[:-1], measured[1:]))
    if np.isfinite(values[0]):
        candidates.append(values[0])
    return float(min(candidates)) if candidates else np.nan


def _serum_progression(now: float, nadir: float) -> bool:
    """≥ 25 % and ≥ 0.5 g/dL over the nadir, or ≥ 1 g/dL when the nadir is ≥ 5 g/dL (Kumar
    2016: "Serum M-protein increase ≥1 g/dL, if the lowest M component was ≥5 g/dL"); False if
    either is missing."""
    if not (np.isfinite(now) and np.isfinite(nadir)):
        return False
    big = nadir >= 5.0 - TOLERANCE and now - nadir >= 1.0 - TOLERANCE
    return bool(big or _rises(now, nadir, 0.25, 0.5))


# -- one assessment ----------------------------------------------------------------------------

def _plasmacytoma(x: ImwgInputs, i: int, fraction_left: float):
    """Plasmacytoma SPD reduced to ≤ ``fraction_left`` of baseline (0: gone), if any at
    baseline."""
    base = x.spd[0]
    if not base > 0:
        return True
    return None if np.isnan(x.spd[i]) else bool(x.spd[i] <= fraction_left * base + TOLERANCE)


def _ife_negative(x: ImwgInputs, i: int):
    detectable = x.m[i] > x.undetectable + TOLERANCE or x.u[i] > x.undetectable_urine + TOLERANCE
    if detectable:
        return False  # a band on electrophoresis is positive on immunofixation
    return None if np.isnan(x.ife[i]) else bool(x.ife[i])


def _ratio_normal(x: ImwgInputs, i: int):
    ratio = x.kappa[i] / x.lam[i] if x.lam[i] > 0 else np.nan
    if np.isnan(ratio):
        return None
    return bool(FLC_NORMAL[0] - TOLERANCE <= ratio <= FLC_NORMAL[1] + TOLERANCE)


def _criteria(x: ImwgInputs, i: int) -> dict:
    """Each category's criteria at assessment ``i``, three-valued (module docstring)."""
    bm = x.bm_latest(i)
    clonal = x.clonal_latest(i)
    cr = _all(_ife_negative(x, i), _cmp(bm, 5.0), _plasmacytoma(x, i, 0.0),
              _ratio_normal(x, i) if x.disease == "flc" else True)
    out = {"sCR": _all(cr, _ratio_normal(x, i), None if np.isnan(clonal) else not clonal),
           "CR": cr}
    if x.disease == "flc":
        out["VGPR"] = _all(_reduced(x.dflc[i], x.dflc[0], 0.9), _plasmacytoma(x, i, 0.5))
        out["PR"] = _all(_reduced(x.dflc[i], x.dflc[0], 0.5), _plasmacytoma(x, i, 0.5))
        out["MR"] = False
        return out
    if x.disease == "marrow":  # no M-protein to grade VGPR or MR by
        out["VGPR"] = out["MR"] = False
        out["PR"] = _all(_reduced(bm, x.bm[0], 0.5), _plasmacytoma(x, i, 0.5))
        return out
    serum = (lambda f: _reduced(x.m[i], x.m[0], f)) if x.serum_measurable else (lambda f: True)
    urine_pr = (None if np.isnan(x.u[i]) else
                bool(x.u[i] < 200.0 - TOLERANCE
                     or (x.urine_measurable and _reduced(x.u[i], x.u[0], 0.9))))
    urine_mr = _reduced(x.u[i], x.u[0], 0.5) if x.urine_measurable else _cmp(x.u[i], 200.0)
    out["VGPR"] = _all(serum(0.9), _cmp(x.u[i], 100.0), _plasmacytoma(x, i, 0.5))
    out["PR"] = _all(serum(0.5), urine_pr, _plasmacytoma(x, i, 0.5))
    out["MR"] = _all(serum(0.25), urine_mr, _plasmacytoma(x, i, 0.75))
    return out


def _progression(x: ImwgInputs, i: int) -> tuple[str, bool]:
    """PD reasons at assessment ``i`` (comma-separated, "" if none) and whether all of them
    come from the laboratory (serum, urine, FLC), and so need confirmation."""
    lab, unconfirmed = [], []
    if _serum_progression(x.m[i], confirmed_nadir(x.m, i)):
        lab.append("serum")
    if _rises(x.u[i], confirmed_nadir(x.u, i), 0.25, 200.0):
        lab.append("urine")
    if x.disease in ("flc", "marrow") and \
            _rises(x.dflc[i], confirmed_nadir(x.dflc, i), 0.25, 10.0, strictly=True):
        lab.append("flc")
    k = x.bm_latest_index(i)
    if x.disease == "marrow" and k is not None and \
            _rises(x.bm[k], float(np.nanmin(x.bm[:k])), 0.25, 10.0):
        unconfirmed.append("marrow")
    if x.new[i]:
        unconfirmed.append("new lesion")
    if np.isfinite(x.spd[i]) and np.isfinite(x.spd[:i]).any():
        nadir = np.nanmin(x.spd[:i])
        if (nadir > 0 and x.spd[i] >= 1.5 * nadir - TOLERANCE) or (nadir == 0 < x.spd[i]):
            unconfirmed.append("plasmacytoma")
    return ", ".join(lab + unconfirmed), bool(lab) and not unconfirmed


def grade_assessment(x: ImwgInputs, i: int) -> tuple[str, str, str, bool]:
    """Category, the better categories not evaluable, the PD reasons and whether the PD needs
    confirmation, at assessment ``i``."""
    reasons, needs_confirmation = _progression(x, i)
    if reasons:
        return "PD", "", reasons, needs_confirmation
    criteria = _criteria(x, i)
    undecided = []
    for name in CATEGORIES:
        if criteria[name] is True:
            return name, ", ".join(undecided), "", False
        if criteria[name] is None:
            undecided.append(name)
    return ("NE" if undecided else "SD"), ", ".join(undecided), "", False


# -- confirmation and the subject ------------------------------------------------------------

def _confirm(responses, lab_pd):
    """Confirmed category per assessment (module docstring)."""
    evaluable = [i for i, r in enumerate(responses) if r not in ("NE", "baseline")]
    confirmed = [None] * len(responses)
    for i, j in zip(evaluable, (evaluable[1:] + [None]) if evaluable else [], strict=True):
        now, nxt = responses[i], None if j is None else responses[j]
        if now == "SD":
            confirmed[i] = "SD"
        elif now == "PD":
            confirmed[i] = "PD" if nxt == "PD" or not lab_pd[i] else None
        elif nxt not in (None, "PD"):
            confirmed[i] = _BY_RANK[min(_RANK[now], _RANK[nxt])]
    return confirmed, evaluable


def _serum_nadirs(x: ImwgInputs) -> list[float]:
    return [np.nan] + [confirmed_nadir(x.m, i) for i in range(1, x.t.size)]


def _not_graded(x: ImwgInputs, label: str) -> ImwgResult:
    table = x.table(_serum_nadirs(x)).assign(response=["baseline"] + [label] * (x.t.size - 1))
    return ImwgResult(table, label, False, np.nan, x.disease)


def imwg(times, m_protein=None, *, urine_m_protein=None, flc_kappa=None, flc_lambda=None,
         ife_negative=None, bm_plasma_cells=None, bm_clonal=None, plasmacytoma_spd=None,
         new_lesion=None, undetectable: float = 0.0, undetectable_urine: float = 0.0,
         min_baseline: float = 0.5, min_urine: float = 200.0, min_flc: float = 10.0,
         min_marrow: float = 30.0) -> ImwgResult:
    """IMWG per-assessment and confirmed responses and best response (Kumar 2016).

    Parameters
    ----------
    times : sequence of float
        Assessment times in days, baseline first, strictly increasing.
    m_protein : sequence of float, optional
        Serum M-protein, g/dL (NaN = not measured).
    urine_m_protein : sequence of float, optional
        24-h urine M-protein, mg/24 h. Needed for VGPR/PR/MR of M-protein disease.
    flc_kappa, flc_lambda : sequence of float, optional
        Serum free light chains, mg/dL.
    ife_negative : sequence of bool or NaN, optional
        Serum and urine immunofixation both negative.
    bm_plasma_cells : sequence of float, optional
        Bone-marrow plasma cells, % (NaN where no marrow was taken). The baseline value decides
        the marrow route when serum, urine and FLC are unmeasurable.
    bm_clonal : sequence of bool or NaN, optional
        Clonal plasma cells present in the marrow (immunohistochemistry or flow).
    plasmacytoma_spd : sequence of float, optional
        Soft-tissue plasmacytomas, sum of products of diameters, cm² (0 = none).
    new_lesion : sequence of bool, optional
        A new bone lesion or plasmacytoma at the assessment.
    undetectable, undetectable_urine : float
        M-protein at or below which electrophoresis shows no band (g/dL, mg/24 h).
    min_baseline, min_urine, min_flc : float
        Measurable-disease levels at baseline: serum g/dL, urine mg/24 h, involved FLC mg/dL.
    min_marrow : float
        Baseline marrow plasma cells (%) from which the marrow route grades a patient whose
        serum, urine and FLC are unmeasurable.

    Returns
    -------
    ImwgResult
        Rules: module docstring. Not-measurable patients are returned with best response
        ``"not measurable"``. Times (onset, progression, DOR) in the unit of ``times``.
    """
    x = read_inputs(times, m_protein, urine_m_protein, flc_kappa, flc_lambda, ife_negative,
                    bm_plasma_cells, bm_clonal, plasmacytoma_spd, new_lesion,
                    undetectable=undetectable, undetectable_urine=undetectable_urine,
                    min_baseline=min_baseline, min_urine=min_urine, min_flc=min_flc,
                    min_marrow=min_marrow)
    if x.disease == "not measurable":
        return _not_graded(x, "not measurable")
    if x.disease == "unknown":
        return _not_graded(x, "NE")
    graded = [grade_assessment(x, i) for i in range(1, x.t.size)]
    responses = ["baseline"] + [g[0] for g in graded]
    lab_pd = [False] + [g[3] for g in graded]
    confirmed, evaluable = _confirm(responses, lab_pd)
    stop = confirmed.index("PD") if "PD" in confirmed else x.t.size
    ranks = [_RANK[c] for c in confirmed[:stop] if c is not None]
    if ranks:
        best = _BY_RANK[max(ranks)]
    elif any(r in _RANK for r in responses[:stop]):
        best = "SD"  # responses seen but none confirmed
    else:
        best = "PD" if stop < x.t.size else "NE"
    not_evaluable = [""] + [g[1] for g in graded]
    cr_open = ["CR" in n.split(", ") for n in not_evaluable]
    pairs = zip(evaluable, evaluable[1:], strict=False)
    cr_eligible = best == "VGPR" and any(
        confirmed[i] == "VGPR" and cr_open[i] and cr_open[j] for i, j in pairs if i < stop)
    table = x.table(_serum_nadirs(x)).assign(
        response=responses, not_evaluable=not_evaluable, pd_reason=[""] + [g[2] for g in graded],
        confirmed=confirmed, cr_eligible=[False] + [confirmed[i] == "VGPR" and cr_open[i]
                                                    for i in range(1, x.t.size)])
    progressed = stop < x.t.size
    onset = next((float(x.t[i]) for i in range(1, stop) if confirmed[i] in RESPONSES), np.nan)
    last = float(x.t[evaluable[-1]]) if evaluable else np.nan
    end = float(x.t[stop]) if progressed else last
    return ImwgResult(table, best, bool(cr_eligible), float(x.t[stop]) if progressed else np.nan,
                      x.disease, response_onset=onset, last_assessment=last,
                      dor=end - onset, dor_event=bool(progressed and np.isfinite(onset)))
