import numpy as np
import pytest

from cellpkpd.endpoints import irecist, recist
from cellpkpd.errors import DataError, ParameterError


def responses(result):
    return result.assessments["response"].tolist()[1:]


# --- RECIST 1.1 -------------------------------------------------------------------------------

def test_five_mm_rule():
    # +20 % over the nadir of 20 mm is only 4 mm: not PD; 25 mm is +25 % and +5 mm: PD
    assert responses(recist([0, 42, 84], [20, 24, 25])) == ["SD", "PD"]


def test_pd_from_nadir_pr_from_baseline():
    r = recist([0, 42, 84, 126, 168], [100, 50, 20, 24, 25])
    # 24 mm is +20 % but +4 mm over the nadir 20 and still 76 % below baseline: PR, not PD
    assert responses(r) == ["PR", "PR", "PR", "PD"]
    assert r.assessments["nadir"].tolist()[1:] == [100, 50, 20, 20]
    r = recist([0, 42, 84, 126], [50, 40, 30, 36])  # 36: +6 mm/+20 % over nadir, -28 % baseline
    assert responses(r) == ["SD", "PR", "PD"]


@pytest.mark.parametrize(("gap", "best"), [(27.0, "SD"), (28.0, "PR")])
def test_pr_confirmation_needs_28_days(gap, best):
    r = recist([0, 42, 42 + gap], [100, 60, 60])
    assert responses(r) == ["PR", "PR"]
    assert r.best_response == best  # unconfirmed PR at day 42 still meets the SD duration


def test_confirmation_breaks_on_a_worse_response_in_between():
    r = recist([0, 42, 56, 84], [100, 60, 71, 60])  # PR, SD, PR: the PR is not maintained
    assert responses(r) == ["PR", "SD", "PR"] and r.best_response == "SD"
    r = recist([0, 42, 56, 84], [100, 60, np.nan, 60])  # NE in between is skipped
    assert responses(r) == ["PR", "NE", "PR"] and r.best_response == "PR"


def test_cr_then_cr_is_cr_and_disease_after_cr_is_pd():
    """Eisenhauer 2009, note to Table 3: "If a CR is truly met at first time point, then any
    disease seen at a subsequent time point, even disease meeting PR criteria relative to
    baseline, makes the disease PD at that point (since disease must have reappeared after CR).
    Best response would depend on whether minimum duration for SD was met."

    40 → 0 (day 42) → 4 mm (day 70): CR then PD. The CR is not confirmed (the next assessment
    is PD); day 42 meets the 42-day SD duration, so the best response is SD."""
    assert recist([0, 42, 70], [40, 0, 0]).best_response == "CR"
    r = recist([0, 42, 70], [40, 0, 4])
    assert responses(r) == ["CR", "PD"]
    assert (r.best_response, r.pfs_time, r.pfs_event) == ("SD", 70.0, True)


def test_cr_with_nodes_below_10_mm():
    # the SLD includes the node's short axis: 15 mm node at baseline, 8 mm later, no other target
    r = recist([0, 42, 84], [45, 8, 8], nodal_short_axes=[[15], [8], [8]])
    assert responses(r) == ["CR", "CR"] and r.best_response == "CR"
    assert responses(recist([0, 42], [45, 8])) == ["PR"]  # without nodes 8 mm is not zero


def test_sd_duration_and_fallbacks():
    assert recist([0, 35, 60], [100, 95, 130]).best_response == "PD"  # SD only at day 35
    assert recist([0, 42, 60], [100, 95, 130]).best_response == "SD"
    assert recist([0, 20], [100, 95]).best_response == "NE"
    r = recist([0, 21], [100, 90], new_lesion=[False, True])
    assert responses(r) == ["PD"] and r.best_response == "PD"


def test_pfs_and_duration_of_response():
    r = recist([0, 28, 56, 84, 112, 140], [100, 80, 60, 60, 55, 70])
    assert responses(r) == ["SD", "PR", "PR", "PR", "PD"]
    assert (r.best_response, r.response_onset) == ("PR", 56.0)
    assert (r.pfs_time, r.pfs_event, r.dor, r.dor_event) == (140.0, True, 84.0, True)
    censored = recist([0, 28, 56, 84, 112], [100, 80, 60, 60, np.nan])
    assert (censored.pfs_time, censored.pfs_event) == (84.0, False)  # last evaluable
    assert (censored.dor, censored.dor_event) == (28.0, False)


def test_recist_bad_input():
    with pytest.raises(DataError, match="measurable disease"):
        recist([0, 42], [0, 0])
    with pytest.raises(DataError, match="new_lesion"):
        recist([0, 42], [10, 10], new_lesion=[True, False])
    with pytest.raises(DataError, match="nodal short axes"):
        recist([0, 42], [10, 10], nodal_short_axes=[[5], [12]])
    with pytest.raises(DataError, match="does not come after"):
        recist([0, 42, 42], [10, 10, 10])


# --- iRECIST ----------------------------------------------------------------------------------

def test_unconfirmed_iupd_resets_on_isd_and_later_icpd():
    times = [0, 42, 84, 119, 161, 196]
    r = irecist(times, [50, 40, 50, 45, 52, 58])
    # 45 is +5 mm but only +12.5 % over the nadir 40: iSD, the iUPD resets; 52 is a new iUPD
    # against the nadir; 58 is +6 mm over it, 35 days later: confirmed
    assert responses(r) == ["iSD", "iUPD", "iSD", "iUPD", "iCPD"]
    assert (r.best_response, r.first_iupd_time, r.icpd_time) == ("iSD", 84.0, 196.0)


@pytest.mark.parametrize(("sld", "expected"), [(55, "iCPD"), (54, "iUPD")])
def test_icpd_needs_five_more_mm(sld, expected):
    r = irecist([0, 42, 84, 119], [50, 40, 50, sld])
    assert responses(r)[-1] == expected


def test_icpd_by_a_further_new_lesion():
    new = [False, False, True, True]
    r = irecist([0, 42, 84, 119], [50, 40, 41, 41], new_lesion=new)
    assert responses(r) == ["iSD", "iUPD", "iCPD"]
    # the first new lesion persisting without a further one keeps iUPD ...
    r = irecist([0, 42, 84, 119], [50, 40, 41, 41], new_lesion=[False, False, True, False])
    assert responses(r) == ["iSD", "iUPD", "iUPD"] and r.best_response == "iSD"
    # ... unless it has resolved
    r = irecist([0, 42, 84, 119], [50, 40, 41, 41], new_lesion=[False, False, True, False],
                new_lesion_present=[False, False, True, False])
    assert responses(r) == ["iSD", "iUPD", "iSD"]


def test_confirmation_at_any_later_assessment_no_window():
    """Seymour 2017, Table 2: "Remains iUPD unless iCPD is confirmed on the basis of a further
    increase in sum of measures ≥5 mm"; the 4-8 weeks is when the confirmatory scan is
    recommended, not a limit. 50 → 40 → 50 (iUPD, day 84): 60 mm at day 104 (20 days later) is
    +10 mm over the SLD at iUPD, so it confirms: iCPD."""
    r = irecist([0, 42, 84, 104, 144], [50, 40, 50, 60, 70])
    assert responses(r) == ["iSD", "iUPD", "iCPD", "iCPD"]
    assert (r.icpd_time, r.best_response) == (104.0, "iSD")
    assert irecist([0, 21, 49], [50, 60, 75]).best_response == "iCPD"
    assert irecist([0, 21], [50, 60]).best_response == "iUPD"
    # +20 mm 120 days after the iUPD, with nothing in between: still confirms
    r = irecist([0, 42, 84, 204], [50, 40, 50, 70])
    assert responses(r) == ["iSD", "iUPD", "iCPD"] and r.icpd_time == 204.0


def test_irecist_confirmed_response_after_reset():
    r = irecist([0, 42, 84, 112, 140], [50, 30, 40, 28, 28])
    assert responses(r) == ["iPR", "iUPD", "iPR", "iPR"]
    assert r.best_response == "iPR"


# --- published rules and worked examples ---------------------------------------------------------

EIGHT_WEEKS = [0, 56, 112, 168, 224, 280]


def test_reappearance_after_confirmed_cr_is_pd():
    """Eisenhauer 2009, note to Table 3: once CR is truly met, "any disease seen at a subsequent
    time point, even disease meeting PR criteria relative to baseline, makes the disease PD at
    that point". 50 → 0 → 0 (CR confirmed 56 days apart) → 4 mm: PD at day 168 (a 4 mm rise
    from a 0 mm nadir would not be PD by the 5 mm rule); PFS event there, DOR 168 − 56."""
    r = recist(EIGHT_WEEKS[:4], [50, 0, 0, 4])
    assert responses(r) == ["CR", "CR", "PD"]
    assert (r.best_response, r.response_onset) == ("CR", 56.0)
    assert (r.pfs_time, r.pfs_event, r.dor, r.dor_event) == (168.0, True, 112.0, True)


def test_a_node_back_to_10_mm_after_cr_is_pd():
    """RECIST 1.1 CR: "Any pathological lymph nodes (whether target or non-target) must have
    reduction in short axis to <10 mm"; a node back at ≥ 10 mm after CR is disease seen again,
    hence PD (note to Table 3), although 10 mm is only +2 mm over the 8 mm nadir."""
    nodes = [[15], [8], [8], [10]]
    r = recist(EIGHT_WEEKS[:4], [45, 8, 8, 10], nodal_short_axes=nodes)
    assert responses(r) == ["CR", "CR", "PD"] and r.best_response == "CR"
    r = recist(EIGHT_WEEKS[:4], [45, 8, 8, 9], nodal_short_axes=[[15], [8], [8], [9]])
    assert responses(r) == ["CR", "CR", "CR"]


def test_eortc_faq_pr_is_kept_while_pd_criteria_are_not_met():
    """EORTC RECIST FAQ, "Managing PR when TP measurements change slightly over time": "once
    a PR has been assigned, and confirmed (if required), then the best response is always PR
    even if subsequent TP measurements no longer quite meet the criteria (providing that the
    criteria for PD are not met). The same principles hold for iRECIST": sums 100, 70, 70, 80,
    80, 80 give PR PR PR PR PR and iPR ×5. 80 mm is −20 % from baseline (SD criteria) and +10 mm
    / +14 % over the 70 mm nadir (not PD)."""
    sums = [100, 70, 70, 80, 80, 80]
    r = recist(EIGHT_WEEKS, sums)
    assert responses(r) == ["PR"] * 5
    assert r.assessments["criteria_response"].tolist()[1:] == ["PR", "PR", "SD", "SD", "SD"]
    criteria = recist(EIGHT_WEEKS, sums, pr_convention="criteria")
    assert responses(criteria) == ["PR", "PR", "SD", "SD", "SD"]
    assert r.best_response == criteria.best_response == "PR"  # BOR is unaffected
    assert (r.pfs_event, r.dor) == (criteria.pfs_event, criteria.dor)
    assert responses(irecist(EIGHT_WEEKS, sums)) == ["iPR"] * 5


def test_an_unconfirmed_pr_is_not_carried():
    """The FAQ keeps PR once it is "assigned, and confirmed (if required)": a PR at day 42
    followed 14 days later by SD criteria (below the 28-day confirmation) stays SD; without
    required confirmation (``confirm=False``) the PR is carried."""
    assert responses(recist([0, 42, 56, 98], [100, 70, 80, 80])) == ["PR", "SD", "SD"]
    assert responses(recist([0, 42, 56, 98], [100, 70, 80, 80], confirm=False)) == [
        "PR", "PR", "PR"]
    with pytest.raises(ParameterError, match="pr_convention"):
        recist([0, 42], [100, 70], pr_convention="sticky")


@pytest.mark.parametrize(("sums", "timepoints", "ibor"), [
    # Example 1: iCR, iCR, iUPD, iCPD -> iCR (disease after iCR is iUPD; +6 mm confirms)
    ([50, 0, 0, 6, 12], ["iCR", "iCR", "iUPD", "iCPD"], "iCR"),
    # Example 2: iUPD, iPR, iCR, iCR -> iCR
    ([50, 60, 30, 0, 0], ["iUPD", "iPR", "iCR", "iCR"], "iCR"),
    # Example 3: iUPD, iPR, iPR -> iPR
    ([50, 60, 30, 30], ["iUPD", "iPR", "iPR"], "iPR"),
    # Example 4: iUPD, iSD, iPR -> iPR
    ([50, 60, 50, 30], ["iUPD", "iSD", "iPR"], "iPR"),
    # Example 5: iUPD, iSD, iSD -> iSD
    ([50, 60, 50, 48], ["iUPD", "iSD", "iSD"], "iSD"),
    # Example 6: iUPD, iCPD -> iCPD
    ([50, 65, 71], ["iUPD", "iCPD"], "iCPD"),
    # Example 7: iUPD, iUPD (no iCPD), iCPD -> iCPD; the 100 → 125 → 129 → 131
    ([100, 125, 129, 131], ["iUPD", "iUPD", "iCPD"], "iCPD"),
    # Example 8: iUPD, NE, NE, NE, NE -> iUPD
    ([50, 60, np.nan, np.nan, np.nan, np.nan], ["iUPD", "iNE", "iNE", "iNE", "iNE"], "iUPD"),
])
def test_seymour_2017_table_3_examples(sums, timepoints, ibor):
    """Seymour 2017, Table 3 ("Scenarios of assignments of best overall response using
    iRECIST"; it "assumes a randomised study in which confirmation of complete response or
    partial response is not required": ``confirm=False``), target disease only, scans every 8
    weeks. Each SLD series is built by hand to give the example's time-point responses:
    iUPD = RECIST PD (≥ 20 % and ≥ 5 mm over the nadir); iCPD = a further ≥ 5 mm over the SLD
    at iUPD (Table 2); after iUPD, a sum no longer PD resets to iSD/iPR/iCR (Table 2, "previous
    iUPD" column)."""
    r = irecist(EIGHT_WEEKS[:len(sums)], sums, confirm=False)
    assert responses(r) == timepoints
    assert r.best_response == ibor


def test_sequential_increases_add_up():
    """Seymour 2017, Table 2 ("Remains iUPD unless iCPD is confirmed on the basis of a further
    increase in sum of measures ≥5 mm") and the EORTC FAQ (sequential increases are additive):
    after iUPD at 125 mm (day 56), 129 (+4) stays iUPD and 131 (+6 over 125, though only +2
    over 129) is iCPD at day 168."""
    r = irecist(EIGHT_WEEKS[:4], [100, 125, 129, 131])
    assert (r.first_iupd_time, r.icpd_time) == (56.0, 168.0)


def test_new_lesion_growth_confirms_icpd():
    """Seymour 2017, Table 2: "New lesions confirm iCPD if new lesions were previously
    identified and they have increased in size (≥5 mm in sum of measures for new lesion
    target ...) or number". A new lesion of 10 mm gives iUPD at day 56; 14 mm (+4) stays iUPD,
    15 mm (+5 over its size at iUPD) confirms at day 168."""
    new = [False, True, False, False]
    r = irecist(EIGHT_WEEKS[:4], [50, 50, 50, 50], new_lesion=new,
                new_lesion_sld=[np.nan, 10, 14, 15])
    assert responses(r) == ["iUPD", "iUPD", "iCPD"] and r.icpd_time == 168.0
    r = irecist(EIGHT_WEEKS[:4], [50, 50, 50, 50], new_lesion=new,
                new_lesion_sld=[np.nan, 10, 14, 14])
    assert responses(r) == ["iUPD", "iUPD", "iUPD"]
