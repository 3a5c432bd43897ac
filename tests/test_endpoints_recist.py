import numpy as np
import pytest

from cellpkpd.endpoints import irecist, recist
from cellpkpd.errors import DataError


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


def test_cr_then_pr_is_pr_and_cr_then_cr_is_cr():
    assert recist([0, 42, 70], [40, 0, 0]).best_response == "CR"
    assert recist([0, 42, 70], [40, 0, 4]).best_response == "PR"  # 4 mm back: PR, not PD


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


def test_confirmation_only_inside_the_4_to_8_week_window():
    # +10 mm 20 days after iUPD, then +20 mm 60 days after: both outside the window
    r = irecist([0, 42, 84, 104, 144], [50, 40, 50, 60, 70])
    assert responses(r) == ["iSD", "iUPD", "iUPD", "iUPD"]
    assert np.isnan(r.icpd_time) and r.best_response == "iSD"
    assert irecist([0, 21, 49], [50, 60, 75]).best_response == "iCPD"
    assert irecist([0, 21], [50, 60]).best_response == "iUPD"


def test_irecist_confirmed_response_after_reset():
    r = irecist([0, 42, 84, 112, 140], [50, 30, 40, 28, 28])
    assert responses(r) == ["iPR", "iUPD", "iPR", "iPR"]
    assert r.best_response == "iPR"
