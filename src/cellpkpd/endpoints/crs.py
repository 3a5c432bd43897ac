"""Cytokine release syndrome grade by the ASTCT consensus (Lee DW et al., Biol Blood Marrow
Transplant 2019;25:625-38, Table 3).

* **Grade 1**: fever (temperature ≥ 38.0 °C), no hypotension, no hypoxia.
* **Grade 2**: fever with hypotension not requiring vasopressors and/or hypoxia requiring
  low-flow nasal cannula (≤ 6 L/min) or blow-by.
* **Grade 3**: fever with hypotension requiring a vasopressor, with or without vasopressin,
  and/or hypoxia requiring high-flow nasal cannula (> 6 L/min), facemask, non-rebreather or
  Venturi mask.
* **Grade 4**: fever with hypotension requiring multiple vasopressors (excluding vasopressin)
  and/or hypoxia requiring positive pressure (CPAP, BiPAP, intubation and mechanical
  ventilation).
* **Grade 5**: death due to CRS.

"CRS grade is determined by the more severe event". Fever is required, except in a patient
given antipyretics or anticytokine therapy (tocilizumab, steroids): then fever "is no longer
required to grade subsequent CRS severity" (``fever_masked``). Without fever (and not masked)
there is no CRS: grade 0. Organ toxicities do not enter the grade.

Inputs are the clinical signs; linking them to model outputs (e.g. an IL-6 threshold) is an
assumption of the caller, stated where it is made (`cellpkpd.trial_simulation`).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, DataProblem

HYPOTENSION = ("none", "no_vasopressor", "vasopressor", "multiple_vasopressors")
OXYGEN = ("none", "low_flow", "high_flow", "positive_pressure")
FEVER_C = 38.0


def _level(name: str, value: str, allowed: tuple[str, ...]) -> int:
    if value not in allowed:
        raise DataError(DataProblem(f"{name}={value!r} is not an ASTCT category",
                                    f"use one of {allowed}", column=name))
    return allowed.index(value)


def astct_crs_grade(temperature_c: float, hypotension: str = "none", oxygen: str = "none", *,
                    fever_masked: bool = False, died_of_crs: bool = False) -> int:
    """ASTCT CRS grade (0–5) of one patient at one time (module docstring).

    Parameters
    ----------
    temperature_c : float
        Body temperature, °C (NaN allowed only with ``fever_masked``).
    hypotension : str
        ``"none"``, ``"no_vasopressor"`` (fluids only), ``"vasopressor"`` (one, ± vasopressin)
        or ``"multiple_vasopressors"``.
    oxygen : str
        ``"none"``, ``"low_flow"`` (nasal cannula ≤ 6 L/min or blow-by), ``"high_flow"`` (nasal
        cannula > 6 L/min, facemask, non-rebreather, Venturi) or ``"positive_pressure"``.
    fever_masked : bool
        Antipyretics or anticytokine therapy given: fever is not required.
    died_of_crs : bool
        Death due to CRS: grade 5.
    """
    severity = max(_level("hypotension", hypotension, HYPOTENSION),
                   _level("oxygen", oxygen, OXYGEN))
    if died_of_crs:
        return 5
    temperature = float(temperature_c)
    if np.isnan(temperature) and not fever_masked:
        raise DataError(DataProblem("temperature_c is missing", "give the temperature in °C, "
                                    "or fever_masked=True after antipyretics/tocilizumab"))
    fever = temperature >= FEVER_C - 1e-9
    if not (fever or fever_masked):
        return 0
    if severity == 0:
        return 1 if fever else 0
    return severity + 1
