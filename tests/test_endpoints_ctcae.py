import numpy as np
import pandas as pd
import pytest

from cellpkpd.endpoints import ctcae_grade, grade_episodes, treatment_intolerance
from cellpkpd.errors import DataError, ParameterError


def test_lymphocyte_and_neutrophil_grades_at_the_cut_offs():
    lymph = [1.2, 1.0, 0.99, 0.8, 0.79, 0.5, 0.49, 0.2, 0.19]
    assert ctcae_grade(lymph, lab="lymphocytes").tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4]
    anc = [1.8, 1.79, 1.5, 1.49, 1.0, 0.99, 0.5, 0.49]
    assert ctcae_grade(anc, lab="neutrophils").tolist() == [0, 1, 1, 2, 2, 3, 3, 4]


def test_units_and_lln():
    assert ctcae_grade([490.0, 1500.0], lab="lymphocytes", unit="cells/uL").tolist() == [3, 0]
    # an LLN below the G2 cut-off does not demote a G2 count to G1
    assert ctcae_grade([0.75, 0.65], lab="lymphocytes", lln=0.7).tolist() == [2, 2]
    with pytest.raises(ParameterError, match="unit"):
        ctcae_grade([1.0], lab="lymphocytes", unit="mg/dL")
    with pytest.raises(ParameterError, match="lab"):
        ctcae_grade([1.0], lab="platelets")
    with pytest.raises(DataError, match=r"values\[1\]"):
        ctcae_grade([1.0, np.nan], lab="lymphocytes")


def test_episode_boundaries_interpolate_the_crossing():
    t = np.arange(10.0)
    v = [1.0, 0.8, 0.4, 0.3, 0.1, 0.3, 0.6, 0.7, 0.4, 0.45]
    ep = grade_episodes(t, v, lab="lymphocytes")
    assert len(ep) == 2
    first, last = ep.iloc[0], ep.iloc[1]
    assert first["start"] == pytest.approx(1.75) and first["end"] == pytest.approx(5 + 2 / 3)
    assert first["duration"] == pytest.approx(5 + 2 / 3 - 1.75) and first["worst_grade"] == 4
    assert not first["left_censored"] and not first["right_censored"]
    assert last["start"] == pytest.approx(7 + 2 / 3) and last["end"] == 9.0
    assert last["right_censored"] and last["worst_grade"] == 3


def test_episode_left_censored_and_none():
    ep = grade_episodes([0, 1, 2], [0.3, 0.4, 0.6], lab="lymphocytes")
    assert ep.iloc[0].tolist()[:2] == pytest.approx([0.0, 1.5]) and ep.iloc[0]["left_censored"]
    assert grade_episodes([0, 1], [1.0, 0.9], lab="lymphocytes").empty


def ti(episodes, infusions=(0.0,)):
    return treatment_intolerance(episodes, infusions)["intolerance"].tolist()


def test_intolerance_needs_seven_days():
    assert ti([(5.0, 11.9, 3)]) == [False]
    assert ti([(5.0, 12.0, 3)]) == [True]
    assert ti([(0.1, 7.2, 3)]) == [True]  # 7.1 days computed from floats
    assert ti([(5.0, 20.0, 2)]) == [False]  # grade 2 does not count


def test_intolerance_onset_window_and_two_infusions():
    assert ti([(28.0, 40.0, 4)]) == [True]  # onset on day 28; may last beyond it
    assert ti([(28.1, 40.0, 4)]) == [False]
    assert ti([(30.0, 38.0, 3)], (0.0, 28.0)) == [False, True]
    assert ti([(10.0, 17.0, 3)], (0.0, 28.0)) == [True, False]
    assert ti([(28.0, 35.0, 3)], (0.0, 28.0)) == [True, True]  # onset in both windows
    assert ti([(-2.0, 10.0, 3)]) == [False]  # began before the infusion


def test_intolerance_from_grade_episodes_and_censoring():
    t = np.arange(0.0, 31.0)
    v = np.where((t >= 3) & (t <= 12), 0.3, 1.5)  # below 0.5 from 2.5 to 12.5: 10 days
    out = treatment_intolerance(grade_episodes(t, v, lab="lymphocytes"), [0.0])
    assert out["intolerance"].tolist() == [True] and out["episode"].tolist() == [0]
    short = pd.DataFrame({"start": [25.0], "end": [30.0], "worst_grade": [3],
                          "right_censored": [True]})
    out = treatment_intolerance(short, [0.0])
    assert out[["intolerance", "indeterminate"]].values.tolist() == [[False, True]]
    with pytest.raises(DataError, match="not an interval"):
        treatment_intolerance([(5.0, 4.0, 3)], [0.0])
