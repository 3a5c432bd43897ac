import numpy as np
import pandas as pd
import pytest

from cellpkpd.endpoints import IMWG_RESPONDERS, imwg, objective_response_rate
from cellpkpd.errors import DataError


def column(result, name):
    """Values after baseline, missing (unconfirmed) as None."""
    return [None if pd.isna(v) else v for v in result.assessments[name].tolist()[1:]]


def test_pd_needs_half_a_gram_over_the_nadir():
    r = imwg([0, 28, 56, 84, 112, 140], [1.0, 0.4, 0.4, 0.8, 0.9, 1.0])
    # 0.8 is +100 % over the nadir 0.4 but only +0.4 g/dL: not PD (and only 20 % below baseline)
    assert column(r, "response") == ["PR", "PR", "SD", "PD", "PD"]
    assert column(r, "confirmed") == ["PR", "SD", "SD", "PD", None]  # PR then SD: SD
    assert (r.best_response, r.progression_time) == ("PR", 112.0)


def test_consecutive_confirmation_takes_the_worse_category():
    r = imwg([0, 28, 56, 84], [4.0, 0.3, 0.6, 0.7])  # +0.4 g/dL over the nadir: not PD
    assert column(r, "response") == ["VGPR", "PR", "PR"]
    assert column(r, "confirmed") == ["PR", "PR", None]
    assert r.best_response == "PR"
    assert imwg([0, 28, 56], [4.0, 0.3, 0.35]).best_response == "VGPR"
    # minimal response 25-49 %
    assert imwg([0, 28, 56], [2.0, 1.4, 1.3]).best_response == "MR"


def test_unconfirmed_response_counts_as_sd_and_lone_pd_is_ne():
    r = imwg([0, 28, 56, 84], [2.0, 0.8, 1.5, 1.6])
    assert column(r, "confirmed") == [None, "PD", None]
    assert r.best_response == "SD"
    last = imwg([0, 28], [1.0, 1.6])
    assert column(last, "response") == ["PD"] and last.best_response == "NE"


def test_undetectable_m_protein_is_cr_eligible_vgpr():
    r = imwg([0, 28, 56], [3.0, 0.0, 0.0])
    assert (r.best_response, r.cr_eligible) == ("VGPR", True)
    assert imwg([0, 28, 56], [3.0, 0.2, 0.1]).cr_eligible is False


def test_missing_assessment_is_skipped_for_confirmation():
    r = imwg([0, 28, 56, 84], [2.0, 0.9, np.nan, 0.8])
    assert column(r, "response") == ["PR", "NE", "PR"] and r.best_response == "PR"


def test_imwg_bad_input_and_orr():
    with pytest.raises(DataError, match="measurable-disease"):
        imwg([0, 28], [0.3, 0.1])
    with pytest.raises(DataError, match="negative"):
        imwg([0, 28], [1.0, -0.1])
    orr = objective_response_rate(["VGPR", "PR", "SD", "PD", "NE", "MR", "CR", "SD", "SD", "SD"],
                                  responders=IMWG_RESPONDERS)
    assert (orr["n"], orr["responders"], orr["rate"]) == (10, 3, 0.3)
    # Clopper-Pearson 95 % interval of 3/10
    assert (orr["lower"], orr["upper"]) == pytest.approx((0.0667395, 0.6524529), abs=1e-6)
    with pytest.raises(DataError, match="NE"):
        objective_response_rate(["PR", None])
