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

    1.0 → 0.4 (−60 %, PR) → 0.4 (0.4 confirmed by two consecutive assessments) → 0.8 (+0.4 over
    0.4: not PD; −20 %: SD) → 0.9 (+0.5, +125 %: PD) → 1.0 (PD). Confirmation pairs: PR+PR = PR,
    PR+SD = SD, PD+PD = PD."""
    r = imwg(MONTHLY, [1.0, 0.4, 0.4, 0.8, 0.9, 1.0], urine_m_protein=no_urine(6))
    assert column(r, "response") == ["PR", "PR", "SD", "PD", "PD"]
    assert column(r, "confirmed") == ["PR", "SD", "SD", "PD", None]
    assert (r.best_response, r.progression_time, r.disease) == ("PR", 112.0, "serum")
    assert column(r, "pd_reason")[3] == "serum"


def test_one_gram_suffices_over_a_nadir_of_5():
    """Kumar 2016, PD: "Serum M-protein increase ≥1 g/dL, if the lowest M component was
    ≥5 g/dL" (Durie 2006: "increases of ≥1 g/dL are sufficient to define relapse"). 8 → 6 → 6
    (6 confirmed): 7.0 is +1.0 g/dL but only +17 %, so it is PD by this rule alone; 6.9 (+0.9,
    +15 %) is not, and −14 % from baseline is SD. From a baseline of exactly 5.0, 6.0 (+1.0,
    +20 %) is PD; from 4.9, 5.9 (+1.0, +20.4 %) is not (the lowest value is below 5, and 25 %
    of 4.9 is 1.225)."""
    r = imwg(MONTHLY[:5], [8.0, 6.0, 6.0, 7.0, 7.0], urine_m_protein=no_urine(5))
    assert column(r, "response") == ["MR", "MR", "PD", "PD"]
    r = imwg(MONTHLY[:4], [8.0, 6.0, 6.0, 6.9], urine_m_protein=no_urine(4))
    assert column(r, "response") == ["MR", "MR", "SD"]
    r = imwg(MONTHLY[:3], [5.0, 6.0, 6.0], urine_m_protein=no_urine(3))
    assert column(r, "response") == ["PD", "PD"] and r.progression_time == 28.0
    r = imwg(MONTHLY[:3], [4.9, 5.9, 5.9], urine_m_protein=no_urine(3))
    assert column(r, "response") == ["SD", "SD"]


def test_serum_pd_needs_25_percent_as_well_as_half_a_gram():
    """PD: "Increase of 25% from lowest confirmed response value in ... Serum M-protein
    (absolute increase must be ≥0.5 g/dL)": both conditions. From 4.0 g/dL (never lower), 4.9
    is +0.9 g/dL but +22.5 %: not PD; 5.0 is +1.0 and +25 %: PD (the 1 g/dL rule needs a lowest
    value ≥ 5)."""
    r = imwg(MONTHLY[:4], [4.0, 4.9, 5.0, 5.1], urine_m_protein=no_urine(4))
    assert column(r, "response") == ["SD", "PD", "PD"]
    assert column(r, "nadir") == [4.0, 4.0, 4.0]
    assert r.progression_time == 56.0


def test_pd_reference_is_the_lowest_confirmed_value_not_the_lowest_value():
    """PD: "Increase of 25% from lowest confirmed response value"; "All response categories
    require two consecutive assessments", and a value is confirmed by the next one. A single
    low value does not become the reference: it is confirmed only at the level both it and the
    next value reach.

    2.0 → 0.4 (a lone low value) → 0.8 → 0.8 → 1.2 → 1.3 → 1.4. Confirmed levels: baseline 2.0;
    pairs (2.0, 0.4) → 2.0, (0.4, 0.8) → 0.8, (0.8, 0.8) → 0.8: reference 0.8 from day 84 on. At
    day 112, 1.2 is +0.4 over 0.8: not PD (it would be +0.8, +200 % over the single low 0.4); −40 %
    from baseline: MR. Day 140: 1.3 is +0.5 and +62.5 %: PD, confirmed by 1.4 (+0.6)."""
    t = [0, 28, 56, 84, 112, 140, 168]
    r = imwg(t, [2.0, 0.4, 0.8, 0.8, 1.2, 1.3, 1.4], urine_m_protein=no_urine(7))
    assert column(r, "nadir") == [2.0, 2.0, 0.8, 0.8, 0.8, 0.8]
    assert column(r, "response") == ["PR", "PR", "PR", "MR", "PD", "PD"]
    assert column(r, "confirmed") == ["PR", "PR", "MR", None, "PD", None]
    assert (r.best_response, r.progression_time) == ("PR", 140.0)
    # 0.5 then 0.3: the pair holds ≤ 0.5, so 0.5 is the confirmed level until 0.3 is repeated.
    # 0.8 is +0.3 over 0.5: not PD (+0.5 over the single low 0.3 would be)
    r = imwg(MONTHLY[:5], [2.0, 0.5, 0.3, 0.7, 0.8], urine_m_protein=no_urine(5))
    assert column(r, "nadir") == [2.0, 2.0, 0.5, 0.5]
    assert "PD" not in column(r, "response")
    r = imwg(MONTHLY[:5], [2.0, 0.5, 0.3, 0.3, 0.8], urine_m_protein=no_urine(5))
    assert column(r, "nadir")[-1] == 0.3 and column(r, "response")[-1] == "PD"


def test_two_consecutive_assessments_the_worse_counts():
    """"All response categories require two consecutive assessments"; the category confirmed
    is the one both assessments meet. VGPR: "≥90% reduction in serum M-protein plus urine
    M-protein level <100 mg per 24 h". 4.0 → 0.3 (−92.5 %, VGPR) → 0.6 (−85 %, PR; the lone 0.3 is
    no PD reference) → 0.7 (PR; +0.1 over the confirmed 0.6): confirmed PR, PR."""
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
    """PD, like every category, needs two consecutive assessments ("All relapse categories
    require two consecutive assessments"). 2.0 → 0.9 (PR) → 2.6 (+0.6 over the baseline 2.0,
    the lowest confirmed value, +30 %: PD) → 2.7 (PD): the PR is not confirmed, the PD is (day
    56), so the best response is SD. 1.0 → 1.6 alone: PD at the last assessment, unconfirmed:
    best NE."""
    r = imwg(MONTHLY[:4], [2.0, 0.9, 2.6, 2.7], urine_m_protein=no_urine(4))
    assert column(r, "response") == ["PR", "PD", "PD"]
    assert column(r, "confirmed") == [None, "PD", None]
    assert (r.best_response, r.progression_time) == ("SD", 56.0)
    # 2.0 → 0.8 → 1.5 → 1.6: the lone 0.8 is not confirmed, so 1.5 (−25 %) is MR, not PD
    r = imwg(MONTHLY[:4], [2.0, 0.8, 1.5, 1.6], urine_m_protein=no_urine(4))
    assert column(r, "response") == ["PR", "MR", "SD"] and r.best_response == "MR"
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
    # the lone 60 is not confirmed: 250 is +100 over the confirmed 150, not PD (and it would be
    # +190 over 60); −69 % and ≥ 200: not PR; ≥ 50 % reduction: MR
    assert column(r, "response")[-1] == "MR"


def test_measurable_disease_thresholds_and_not_measurable_patients():
    """Measurable disease: "Serum M-protein ≥0.5 g/dL; urine M-protein ≥200 mg/24 h; serum FLC
    assay: involved FLC level ≥10 mg/dL provided serum FLC ratio is abnormal"; otherwise the
    marrow route, "provided baseline bone marrow plasma-cell percentage was ≥30%". A patient
    with none is reported as not measurable, not graded; one whose marrow was not examined
    could still be graded by it, so his measurability is open (NE)."""
    not_measurable = imwg([0, 28], [0.49, 0.1], urine_m_protein=[199, 0], flc_kappa=[9.9, 1],
                          flc_lambda=[1, 1], bm_plasma_cells=[29.9, np.nan])
    assert not_measurable.best_response == "not measurable"
    assert not_measurable.disease == "not measurable"
    assert column(not_measurable, "response") == ["not measurable"]
    # normal ratio (κ/λ = 1.5): no FLC disease even with a high κ
    assert imwg([0, 28], [0.3, 0.1], urine_m_protein=[0, 0], flc_kappa=[15, 3],
                flc_lambda=[10, 2], bm_plasma_cells=[10, 5]).disease == "not measurable"
    # the same patients without a baseline marrow: the marrow route is open
    no_marrow = imwg([0, 28], [0.49, 0.1], urine_m_protein=[199, 0], flc_kappa=[9.9, 1],
                     flc_lambda=[1, 1])
    assert (no_marrow.disease, no_marrow.best_response) == ("unknown", "NE")
    assert imwg([0, 28], [0.49, 0.1], urine_m_protein=[199, 0], flc_kappa=[9.9, 1],
                flc_lambda=[1, 1], bm_plasma_cells=[30, np.nan]).disease == "marrow"
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
    """PD: "Increase of 25% from lowest confirmed response value in ... In patients without
    measurable serum and urine M-protein levels, the difference between involved and uninvolved
    FLC levels (absolute increase must be >10 mg/dL)". κ 40 → 3 → 3 (λ 1: dFLC 39 → 2 → 2, the
    2 confirmed) → dFLC 12.5 (+10.5, +525 %): PD, confirmed by the next (still 12.5). dFLC 12
    (+10, not more than 10): not PD, and −69 % from baseline is PR. With only one low dFLC (39
    → 2 → 12.5) the 2 is not confirmed, the reference is still 39: no PD, and −68 % is PR."""
    common = dict(urine_m_protein=[0] * 5, flc_lambda=[1] * 5)
    r = imwg(MONTHLY[:5], [0.2] * 5, flc_kappa=[40, 3, 3, 13.5, 13.5], **common)
    assert column(r, "response") == ["VGPR", "VGPR", "PD", "PD"]
    assert column(r, "pd_reason")[2] == "flc" and r.progression_time == 84.0
    r = imwg(MONTHLY[:4], [0.2] * 4, flc_kappa=[40, 3, 3, 13], urine_m_protein=[0] * 4,
             flc_lambda=[1] * 4)
    assert column(r, "response") == ["VGPR", "VGPR", "PR"]
    r = imwg(MONTHLY[:3], [0.2] * 3, flc_kappa=[40, 3, 13.5], urine_m_protein=[0] * 3,
             flc_lambda=[1] * 3)
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
    # 5.9 is +47.5 % over the nadir 4: not PD; −41 % from baseline: MR, not PR
    r = imwg(MONTHLY[:3], [2, 0.8, 0.8], urine_m_protein=urine, plasmacytoma_spd=[10, 4, 5.9])
    assert column(r, "response") == ["PR", "MR"]


def test_a_plasmacytoma_where_none_was_is_pd():
    """PD: "Appearance of a new lesion(s)" (Durie 2006: "Definite development of new bone
    lesions or soft tissue plasmacytomas"). No plasmacytoma at baseline (SPD 0), serum PR, then
    a 3 cm² plasmacytoma: PD at day 56 by imaging, needing no confirmation."""
    r = imwg(MONTHLY[:3], [2, 0.8, 0.8], urine_m_protein=no_urine(3), plasmacytoma_spd=[0, 0, 3])
    assert column(r, "response") == ["PR", "PD"]
    assert column(r, "pd_reason")[-1] == "plasmacytoma"
    assert (r.progression_time, r.best_response) == (56.0, "SD")


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
    with pytest.raises(DataError, match="bm_plasma_cells.* above 100"):
        imwg([0, 28], [1.0, 0.5], bm_plasma_cells=[40, 120])
    with pytest.raises(DataError, match="min_marrow"):
        imwg([0, 28], [1.0, 0.5], min_marrow=-1)
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


# -- the marrow route (serum, urine and FLC unmeasurable) --------------------------------------

MARROW = dict(urine_m_protein=[0.0] * 5, flc_kappa=[5.0] * 5, flc_lambda=[1.0] * 5)
# serum 0.2 g/dL and urine 0 are unmeasurable; κ/λ = 5 is abnormal but κ = 5 < 10 mg/dL


def test_marrow_route_partial_response():
    """PR: "If serum and urine M-protein are unmeasurable, and serum free light assay is also
    unmeasurable, ≥50% reduction in plasma cells is required in place of M-protein, provided
    baseline bone marrow plasma-cell percentage was ≥30%"; "Bone marrow assessments do not need
    to be confirmed", so an assessment uses the latest marrow. VGPR and MR are M-protein (or
    FLC) criteria: not defined here.

    Marrow 40 % → 20 % (−50 %: PR) → (no marrow: 20 % still) → 21 % (−47.5 %: SD). A serum band of
    0.2 g/dL means a positive immunofixation: no CR. No marrow after baseline: NE."""
    r = imwg(MONTHLY[:4], [0.2] * 4, bm_plasma_cells=[40, 20, np.nan, 21],
             **{k: v[:4] for k, v in MARROW.items()})
    assert r.disease == "marrow"
    assert column(r, "response") == ["PR", "PR", "SD"]
    assert column(r, "confirmed") == ["PR", "SD", "SD"]
    assert r.best_response == "PR"
    r = imwg(MONTHLY[:3], [0.2] * 3, bm_plasma_cells=[40, np.nan, np.nan],
             **{k: v[:3] for k, v in MARROW.items()})
    assert column(r, "response") == ["NE", "NE"] and r.best_response == "NE"
    assert column(r, "not_evaluable") == ["PR"] * 2  # CR fails on the band; PR needs a marrow


def test_marrow_progression_needs_ten_points():
    """PD: "Increase of 25% from lowest confirmed response value in ... In patients without
    measurable serum and urine M-protein levels and without measurable involved FLC levels,
    bone marrow plasma-cell percentage irrespective of baseline status (absolute increase must
    be ≥10%)"; marrow assessments "do not need to be confirmed".

    40 % → 4 % (−90 %: PR) → (no marrow) → 12 % (+8 points over the lowest 4 %, though +200 %: not
    PD; −70 %: PR) → 14 % (+10 points, +250 %: PD at day 112, with no confirming assessment)."""
    r = imwg(MONTHLY[:5], [0.2] * 5, bm_plasma_cells=[40, 4, np.nan, 12, 14], **MARROW)
    assert column(r, "response") == ["PR", "PR", "PR", "PD"]
    assert column(r, "pd_reason")[-1] == "marrow"
    assert column(r, "confirmed") == ["PR", "PR", None, "PD"]
    assert (r.best_response, r.progression_time) == ("PR", 112.0)


def test_marrow_and_flc_progression_only_without_measurable_m_protein():
    """The FLC and marrow PD criteria apply "only in patients without measurable serum and urine
    M-protein levels" (the marrow one also without measurable FLC). A serum-measurable patient
    (2.0 → 0.8 → 0.8 g/dL: PR) whose marrow goes 10 → 30 % and dFLC 4 → 29 mg/dL keeps his PR; a
    marrow-disease patient whose dFLC goes 4 → 4 → 15 (+11 > 10 mg/dL) progresses by FLC, a
    laboratory PD that the next assessment confirms."""
    r = imwg(MONTHLY[:3], [2.0, 0.8, 0.8], urine_m_protein=[0] * 3, flc_kappa=[5, 5, 30],
             flc_lambda=[1] * 3, bm_plasma_cells=[10, np.nan, 30])
    assert column(r, "response") == ["PR", "PR"] and r.disease == "serum"
    r = imwg(MONTHLY[:5], [0.2] * 5, urine_m_protein=[0] * 5, flc_kappa=[5, 5, 5, 16, 16],
             flc_lambda=[1] * 5, bm_plasma_cells=[40, 18, np.nan, np.nan, np.nan])
    assert column(r, "response") == ["PR", "PR", "PD", "PD"]
    assert column(r, "pd_reason")[2] == "flc"
    assert column(r, "confirmed") == ["PR", None, "PD", None]
    assert r.progression_time == 84.0


def test_missing_marrow_or_flc_is_never_a_guess():
    """"Never a guess": a missing baseline marrow leaves the marrow route open (NE, not "not
    measurable"); a missing dFLC or marrow at an assessment meets no PD criterion, and a PR
    criterion that needs it is not evaluable."""
    r = imwg(MONTHLY[:3], [0.2] * 3, bm_plasma_cells=[np.nan, 10, 10],
             **{k: v[:3] for k, v in MARROW.items()})
    assert (r.disease, r.best_response) == ("unknown", "NE")
    r = imwg(MONTHLY[:3], [0.2] * 3, urine_m_protein=[0] * 3, flc_kappa=[5, np.nan, np.nan],
             flc_lambda=[1, np.nan, np.nan], bm_plasma_cells=[40, 18, np.nan])
    assert column(r, "response") == ["PR", "PR"] and r.best_response == "PR"


# -- duration of response ----------------------------------------------------------------------

def test_response_onset_and_duration_of_response():
    """"The date of the initial test is considered as the date of response for evaluation of
    time dependent outcomes such as duration of response"; DOR ends at the confirmed PD, whose
    date is the first of its two assessments, and is censored at the last assessment without
    one.

    2.0 → 1.8 (SD) → 0.9 (PR, day 56) → 0.9 → 0.9 → 1.0 (PR; +0.1 over the confirmed 0.9) → 1.5
    (+0.6, +67 %: PD, day 168) → 1.6 (PD): onset 56, DOR 112 days, an event. Without the last two
    rises (… → 1.0 at day 140), DOR 84, censored."""
    t = [0, 28, 56, 84, 112, 140, 168, 196]
    m = [2.0, 1.8, 0.9, 0.9, 0.9, 1.0, 1.5, 1.6]
    r = imwg(t, m, urine_m_protein=no_urine(8))
    assert column(r, "response") == ["SD", "PR", "PR", "PR", "PR", "PD", "PD"]
    assert (r.response_onset, r.progression_time, r.dor, r.dor_event) == (56.0, 168.0, 112.0,
                                                                           True)
    r = imwg(t[:6], m[:6], urine_m_protein=no_urine(6))
    assert (r.response_onset, r.last_assessment, r.dor, r.dor_event) == (56.0, 140.0, 84.0,
                                                                          False)
    # a missing last assessment is not evaluable: censored at the one before it
    r = imwg(t[:6], m[:5] + [np.nan], urine_m_protein=no_urine(5) + [np.nan])
    assert (r.last_assessment, r.dor, r.dor_event) == (112.0, 56.0, False)
    # no confirmed response: no onset, no DOR
    r = imwg(MONTHLY[:3], [2.0, 1.8, 1.8], urine_m_protein=no_urine(3))
    assert np.isnan(r.response_onset) and np.isnan(r.dor) and not r.dor_event
