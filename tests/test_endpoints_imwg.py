"""IMWG uniform response criteria (Kumar et al., Lancet Oncol 2016;17:e328-46, Table 6). Each
expected answer is worked out by hand from the quoted rule; M-protein in g/dL, urine in
mg/24 h, FLC in mg/dL, plasmacytomas in cm² (SPD)."""

import numpy as np
import pandas as pd
import pytest

from cellpkpd.endpoints import IMWG_RESPONDERS, imwg, objective_response_rate
from cellpkpd.errors import DataError

MONTHLY = [0, 28, 56, 84, 112, 140]


def column(result, name):
    """Values after baseline, missing (unconfirmed) as None."""
    return [None if pd.isna(v) else v for v in result.assessments[name].tolist()[1:]]


def no_urine(n):
    return [0.0] * n


def test_pd_needs_half_a_gram_and_25_percent_over_the_nadir():
    """PD: "Increase of 25% from lowest confirmed response value in ... Serum M-protein (the
    absolute increase must be ≥0.5 g/dL)". PR: "≥50% reduction of serum M-protein plus
    reduction in 24-h urinary M-protein by ≥90% or to <200 mg per 24 h".

    1.0 → 0.4 (−60 %, PR) → 0.4 → 0.8 (+0.4 over the nadir 0.4: not PD; −20 %: SD) → 0.9 (+0.5,
    +125 %: PD) → 1.0 (PD). Confirmation pairs: PR+PR = PR, PR+SD = SD, PD+PD = PD."""
    r = imwg(MONTHLY, [1.0, 0.4, 0.4, 0.8, 0.9, 1.0], urine_m_protein=no_urine(6))
    assert column(r, "response") == ["PR", "PR", "SD", "PD", "PD"]
    assert column(r, "confirmed") == ["PR", "SD", "SD", "PD", None]
    assert (r.best_response, r.progression_time, r.disease) == ("PR", 112.0, "serum")
    assert column(r, "pd_reason")[3] == "serum"


def test_one_gram_suffices_over_a_nadir_of_5():
    """Kumar 2016: "serum M-component increases of ≥1 g/dL are sufficient to define relapse if
    starting M-component is ≥5 g/dL". 8 → 6 (nadir 6): 7.0 is +1.0 g/dL but only +17 %, so it
    is PD by this rule alone; 6.9 (+0.9) is not."""
    r = imwg(MONTHLY[:4], [8.0, 6.0, 7.0, 7.0], urine_m_protein=no_urine(4))
    assert column(r, "response") == ["MR", "PD", "PD"]
    r = imwg(MONTHLY[:3], [8.0, 6.0, 6.9], urine_m_protein=no_urine(3))
    assert column(r, "response") == ["MR", "SD"]


def test_two_consecutive_assessments_the_worse_counts():
    """"All response categories require two consecutive assessments"; the category confirmed
    is the one both assessments meet. VGPR: "≥90% reduction in serum M-protein plus urine
    M-protein level <100 mg per 24 h". 4.0 → 0.3 (−92.5 %, VGPR) → 0.6 (−85 %, PR; +0.3 over the
    nadir, not PD) → 0.7 (PR): confirmed PR, PR."""
    r = imwg(MONTHLY[:4], [4.0, 0.3, 0.6, 0.7], urine_m_protein=no_urine(4))
    assert column(r, "response") == ["VGPR", "PR", "PR"]
    assert column(r, "confirmed") == ["PR", "PR", None]
    assert r.best_response == "PR"
    assert imwg(MONTHLY[:3], [4.0, 0.3, 0.35], urine_m_protein=no_urine(3)).best_response == \
        "VGPR"


def test_minimal_response():
    """MR: "≥25% but ≤49% reduction of serum M-protein and reduction in 24-h urine M-protein by
    50–89%". 2.0 → 1.4 (−30 %) → 1.3 (−35 %), urine never measurable (0 mg/24 h): MR."""
    r = imwg(MONTHLY[:3], [2.0, 1.4, 1.3], urine_m_protein=no_urine(3))
    assert column(r, "response") == ["MR", "MR"] and r.best_response == "MR"


def test_unconfirmed_response_is_sd_and_a_lone_laboratory_pd_is_ne():
    """PD, like every category, needs two consecutive assessments. 2.0 → 0.8 (PR) → 1.5 (+0.7
    over the nadir 0.8, +88 %: PD) → 1.6 (PD): the PR is not confirmed, the PD is (day 56).
    1.0 → 1.6 alone: PD at the last assessment, unconfirmed: best NE."""
    r = imwg(MONTHLY[:4], [2.0, 0.8, 1.5, 1.6], urine_m_protein=no_urine(4))
    assert column(r, "confirmed") == [None, "PD", None]
    assert (r.best_response, r.progression_time) == ("SD", 56.0)
    last = imwg([0, 28], [1.0, 1.6], urine_m_protein=[0, 0])
    assert column(last, "response") == ["PD"] and last.best_response == "NE"


def test_urine_measurable_disease():
    """Urine is measurable at ≥ 200 mg/24 h. Serum 0.3 g/dL (not measurable: its reduction
    criteria do not apply), urine 800 → 300 (−62.5 %: not ≥90 % and not < 200, so not PR; ≥ 50 %:
    MR) → 150 (< 200: PR) → 60 (< 100: VGPR) → 60 (VGPR) → 260 (+200 over the nadir 60:
    urine PD, "absolute increase must be ≥200 mg/24 h")."""
    r = imwg(MONTHLY, [0.3] * 6, urine_m_protein=[800, 300, 150, 60, 60, 260])
    assert r.disease == "urine"
    assert column(r, "response") == ["MR", "PR", "VGPR", "VGPR", "PD"]
    assert column(r, "confirmed") == ["MR", "PR", "VGPR", None, None]
    assert r.best_response == "VGPR"
    r = imwg(MONTHLY[:5], [0.3] * 5, urine_m_protein=[800, 300, 150, 60, 250])
    # 250 is +190 over the nadir: not PD; −69 % and ≥ 200: not PR; ≥ 50 % reduction: MR
    assert column(r, "response")[-1] == "MR"


def test_measurable_disease_thresholds_and_not_measurable_patients():
    """Measurable disease: "Serum M-protein ≥0.5 g/dL; urine M-protein ≥200 mg/24 h; serum FLC
    assay: involved FLC level ≥10 mg/dL provided serum FLC ratio is abnormal". A patient with
    none is reported as not measurable, not graded."""
    not_measurable = imwg([0, 28], [0.49, 0.1], urine_m_protein=[199, 0], flc_kappa=[9.9, 1],
                          flc_lambda=[1, 1])
    assert not_measurable.best_response == "not measurable"
    assert not_measurable.disease == "not measurable"
    assert column(not_measurable, "response") == ["not measurable"]
    # normal ratio (κ/λ = 1.5): no FLC disease even with a high κ
    assert imwg([0, 28], [0.3, 0.1], urine_m_protein=[0, 0], flc_kappa=[15, 3],
                flc_lambda=[10, 2]).disease == "not measurable"
    assert imwg([0, 28], [0.5, 0.5], urine_m_protein=[0, 0]).disease == "serum"
    assert imwg([0, 28], [0.3, 0.3], urine_m_protein=[200, 200]).disease == "urine"
    assert imwg([0, 28], [0.3, 0.3], urine_m_protein=[0, 0], flc_kappa=[1, 1],
                flc_lambda=[10, 10]).disease == "flc"  # λ involved, ratio 0.1
    # serum below 0.5 and no urine: urine could be measurable, so measurability is open
    open_ = imwg([0, 28], [0.3, 0.1])
    assert (open_.disease, open_.best_response) == ("unknown", "NE")


def test_flc_disease_up_to_stringent_cr():
    """FLC-only disease: PR "≥50% decrease in the difference between involved and uninvolved
    FLC levels"; VGPR > 90 % decrease (Rajkumar 2011); CR "Negative immunofixation on the serum
    and urine and disappearance of any soft tissue plasmacytomas and <5% plasma cells in bone
    marrow aspirates", plus a normal FLC ratio (0.26–1.65) for FLC disease; sCR "CR as defined
    plus normal FLC ratio and absence of clonal cells in bone marrow biopsy". Bone marrow
    "need not be confirmed".

    κ 40, λ 1 (dFLC 39) → κ 18 (dFLC 17, −56 %: PR; serum 0.1 is a band on electrophoresis, so IFE
    is positive) → κ 3 (dFLC 2, −95 %: VGPR; ratio 3 abnormal, no CR) → κ 1.2 (ratio 1.2, IFE
    negative, marrow 2 % without clonal cells: sCR) → the same (sCR, marrow from day 84)."""
    r = imwg([0, 28, 56, 84, 112], [0.2, 0.1, 0.0, 0.0, 0.0], urine_m_protein=[50, 0, 0, 0, 0],
             flc_kappa=[40, 18, 3, 1.2, 1.2], flc_lambda=[1, 1, 1, 1, 1],
             ife_negative=[False, False, None, True, True],
             bm_plasma_cells=[60, np.nan, np.nan, 2, np.nan],
             bm_clonal=[True, None, None, False, None])
    assert r.disease == "flc"
    assert column(r, "response") == ["PR", "VGPR", "sCR", "sCR"]
    assert column(r, "confirmed") == ["PR", "VGPR", "sCR", None]
    assert r.best_response == "sCR"


def test_flc_progression():
    """PD for FLC disease: an increase of ≥ 25 % from the nadir in the difference between
    involved and uninvolved FLC, the absolute increase being ≥ 10 mg/dL. dFLC 39 → 2 → 12 (+10,
    +500 %): PD, confirmed by the next (still 12); → 11.9 (+9.9): not PD, and −69.5 % from
    baseline is PR."""
    common = dict(urine_m_protein=[0, 0, 0, 0], flc_lambda=[1, 1, 1, 1])
    r = imwg(MONTHLY[:4], [0.2, 0.2, 0.2, 0.2], flc_kappa=[40, 3, 13, 13], **common)
    assert column(r, "response") == ["VGPR", "PD", "PD"] and r.progression_time == 56.0
    r = imwg(MONTHLY[:3], [0.2, 0.2, 0.2], flc_kappa=[40, 3, 12.9], urine_m_protein=[0, 0, 0],
             flc_lambda=[1, 1, 1])
    assert column(r, "response") == ["VGPR", "PR"]


def test_missing_input_is_not_evaluable_never_a_guess():
    """A category whose criteria need a missing input is not evaluable. PR/VGPR/MR need the
    urine M-protein ("plus reduction in 24-h urinary M-protein"): serum 3 → 0.1 (−97 %) without
    urine is NE, listing VGPR, PR and MR; serum 3 → 2.9 (−3 %) fails every response criterion
    whatever the urine, so it is SD."""
    r = imwg(MONTHLY[:3], [3.0, 0.1, 0.1])
    assert column(r, "response") == ["NE", "NE"] and r.best_response == "NE"
    assert column(r, "not_evaluable") == ["VGPR, PR, MR"] * 2
    assert column(imwg(MONTHLY[:2], [3.0, 2.9]), "response") == ["SD"]


def test_cr_needs_immunofixation_and_marrow():
    """CR needs negative IFE and < 5 % marrow plasma cells; sCR also a normal FLC ratio and no
    clonal cells. Undetectable M-protein with urine 0: VGPR, CR not evaluable (no IFE:
    ``cr_eligible``); IFE negative but no marrow: still VGPR; IFE negative and marrow 3 %: CR,
    sCR not evaluable (no FLC)."""
    r = imwg(MONTHLY[:3], [3.0, 0.0, 0.0], urine_m_protein=no_urine(3))
    assert column(r, "response") == ["VGPR", "VGPR"] and r.cr_eligible
    assert column(r, "not_evaluable") == ["sCR, CR"] * 2
    r = imwg(MONTHLY[:3], [3.0, 0.0, 0.0], urine_m_protein=no_urine(3),
             ife_negative=[False, True, True])
    assert r.best_response == "VGPR"
    r = imwg(MONTHLY[:3], [3.0, 0.0, 0.0], urine_m_protein=no_urine(3),
             ife_negative=[False, True, True], bm_plasma_cells=[40, 3, np.nan])
    assert column(r, "response") == ["CR", "CR"] and r.best_response == "CR"
    assert column(r, "not_evaluable") == ["sCR", "sCR"] and not r.cr_eligible
    # a detectable band (0.2 g/dL) is IFE-positive: CR fails outright, it is not "not evaluable"
    r = imwg(MONTHLY[:3], [3.0, 0.2, 0.1], urine_m_protein=no_urine(3))
    assert r.best_response == "VGPR" and not r.cr_eligible
    assert column(r, "not_evaluable") == ["", ""]


def test_plasmacytomas():
    """"If present at baseline, a ≥50% reduction in the size (SPD) of soft tissue
    plasmacytomas is also required" for PR; MR needs 25–49 %. PD: "≥50% increase from nadir in
    SPD". Serum 2 → 0.8 (−60 %) with SPD 10 → 6 (−40 %): MR, not PR; SPD 4 (−60 %): PR; SPD
    missing: PR and MR not evaluable (NE); SPD 4 → 6 (+50 % over the nadir): PD, by imaging, with
    no confirmation needed."""
    urine = no_urine(3)
    assert column(imwg(MONTHLY[:3], [2, 0.8, 0.8], urine_m_protein=urine,
                       plasmacytoma_spd=[10, 6, 6]), "response") == ["MR", "MR"]
    assert imwg(MONTHLY[:3], [2, 0.8, 0.8], urine_m_protein=urine,
                plasmacytoma_spd=[10, 4, 4]).best_response == "PR"
    missing = imwg(MONTHLY[:2], [2, 0.8], urine_m_protein=[0, 0], plasmacytoma_spd=[10, np.nan])
    assert column(missing, "response") == ["NE"]
    r = imwg(MONTHLY[:3], [2, 0.8, 0.8], urine_m_protein=urine, plasmacytoma_spd=[10, 4, 6])
    assert column(r, "response") == ["PR", "PD"]
    assert (r.progression_time, column(r, "confirmed")[-1]) == (56.0, "PD")


def test_new_lesion_is_pd():
    """PD: "Appearance of a new lesion(s)". 2 → 1.0 (PR) → 0.9 with a new lesion: PD at day 56
    (imaging, no confirmation); the PR is unconfirmed, so best SD."""
    r = imwg(MONTHLY[:3], [2, 1.0, 0.9], urine_m_protein=no_urine(3),
             new_lesion=[False, False, True])
    assert column(r, "response") == ["PR", "PD"]
    assert (r.best_response, r.progression_time) == ("SD", 56.0)


def test_missing_assessment_is_skipped_for_confirmation():
    """Confirmation uses the next evaluable assessment: PR, (not measured), PR → PR."""
    r = imwg(MONTHLY[:4], [2.0, 0.9, np.nan, 0.8], urine_m_protein=[0, 0, np.nan, 0])
    assert column(r, "response") == ["PR", "NE", "PR"] and r.best_response == "PR"


def test_imwg_bad_input_and_orr():
    with pytest.raises(DataError, match="negative"):
        imwg([0, 28], [1.0, -0.1])
    with pytest.raises(DataError, match="urine_m_protein has 3 values"):
        imwg([0, 28], [1.0, 0.5], urine_m_protein=[0, 0, 0])
    with pytest.raises(DataError, match="no disease measurement"):
        imwg([0, 28])
    with pytest.raises(DataError, match="flc_lambda"):
        imwg([0, 28], flc_kappa=[40, 20])
    with pytest.raises(DataError, match="ife_negative"):
        imwg([0, 28], [1.0, 0.5], ife_negative=[0, 2])
    orr = objective_response_rate(["VGPR", "PR", "SD", "PD", "NE", "MR", "CR", "SD", "SD", "SD"],
                                  responders=IMWG_RESPONDERS)
    assert (orr["n"], orr["responders"], orr["rate"]) == (10, 3, 0.3)
    # Clopper-Pearson 95 % interval of 3/10
    assert (orr["lower"], orr["upper"]) == pytest.approx((0.0667395, 0.6524529), abs=1e-6)
    with pytest.raises(DataError, match="NE"):
        objective_response_rate(["PR", None])
