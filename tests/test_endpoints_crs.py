"""ASTCT consensus CRS grading (Lee et al., Biol Blood Marrow Transplant 2019;25:625-38,
Table 3) on hand-made cases; each expected grade is read off the quoted rule."""

import numpy as np
import pytest

from cellpkpd.endpoints import astct_crs_grade
from cellpkpd.errors import DataError


@pytest.mark.parametrize(("temperature", "hypotension", "oxygen", "grade"), [
    # "Grade 1: Fever ≥38°C; Hypotension: None; Hypoxia: None"
    (38.0, "none", "none", 1),
    (37.9, "none", "none", 0),  # no fever: no CRS
    # "Grade 2: ... hypotension not requiring vasopressors and/or hypoxia requiring low-flow
    # nasal cannula or blow-by" (low-flow: ≤ 6 L/min)
    (38.5, "no_vasopressor", "none", 2),
    (38.5, "none", "low_flow", 2),
    # "Grade 3: ... hypotension requiring a vasopressor with or without vasopressin and/or
    # hypoxia requiring high-flow nasal cannula, facemask, nonrebreather mask, or Venturi mask"
    (39.0, "vasopressor", "none", 3),
    (39.0, "no_vasopressor", "high_flow", 3),  # "determined by the more severe event"
    # "Grade 4: ... hypotension requiring multiple vasopressors (excluding vasopressin) and/or
    # hypoxia requiring positive pressure (eg, CPAP, BiPAP, intubation and mechanical
    # ventilation)"
    (40.0, "multiple_vasopressors", "low_flow", 4),
    (38.2, "none", "positive_pressure", 4),
    # fever is required: hypotension and hypoxia without fever (and no antipyretics) is no CRS
    (37.0, "vasopressor", "high_flow", 0),
])
def test_astct_grades(temperature, hypotension, oxygen, grade):
    """Lee 2019, Table 3; "CRS grade is determined by the more severe event: hypotension or
    hypoxia not attributable to any other cause"."""
    assert astct_crs_grade(temperature, hypotension, oxygen) == grade


def test_fever_not_required_after_antipyretics_or_anticytokines():
    """Lee 2019: "In patients who have CRS then receive antipyretic or anticytokine therapy such
    as tocilizumab or steroids, fever is no longer required to grade subsequent CRS severity.
    In this case, CRS grading is driven by hypotension and/or hypoxia." Grade 5 is "death due
    to CRS"."""
    assert astct_crs_grade(36.8, "vasopressor", "none", fever_masked=True) == 3
    assert astct_crs_grade(np.nan, "none", "low_flow", fever_masked=True) == 2
    assert astct_crs_grade(np.nan, "none", "none", fever_masked=True) == 0
    assert astct_crs_grade(39.0, "multiple_vasopressors", died_of_crs=True) == 5


def test_bad_categories_are_named():
    with pytest.raises(DataError, match="oxygen='8 L/min'"):
        astct_crs_grade(39.0, "none", "8 L/min")
    with pytest.raises(DataError, match="temperature_c is missing"):
        astct_crs_grade(np.nan, "vasopressor")
