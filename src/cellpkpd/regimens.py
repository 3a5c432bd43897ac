"""Dose-regimen builders: dosing without writing a table.

A `Dose` is one administration, optionally repeated (``every``, ``count``), as a bolus or an
infusion (``duration`` or ``rate``), in a per-weight, per-surface or flat unit. A `Regimen` is a
set of doses; ``Regimen.to_dataset(subjects, times)`` crosses it with subjects' covariates and
sampling times into a `Dataset`. Times and durations are in the model's time unit (days for the
cell-therapy models).

The protocol regimens of the two trials are ready-made: `msc_ifna_monotherapy`,
`msc_ifna_combination` and `nkg2d_carnk`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dataset import Dataset
from .errors import DataError, DataProblem
from .nonmem import read_nonmem

_MASS = {"g": 1e3, "mg": 1.0, "ug": 1e-3, "µg": 1e-3, "mcg": 1e-3, "ng": 1e-6}  # in mg
_PER = {"kg": "WT", "m2": "BSA", "m²": "BSA"}
INFUSION_30_MIN_DAYS = 30.0 / (60.0 * 24.0)


def bsa(wt, ht, method: str = "mosteller"):
    """Body-surface area [m²] from weight [kg] and height [cm].

    Mosteller: ``sqrt(HT·WT/3600)``; DuBois: ``0.007184·WT^0.425·HT^0.725``.
    """
    wt, ht = np.asarray(wt, dtype=float), np.asarray(ht, dtype=float)
    if method == "mosteller":
        return np.sqrt(ht * wt / 3600.0)
    if method == "dubois":
        return 0.007184 * wt**0.425 * ht**0.725
    raise ValueError(f"BSA method must be 'mosteller' or 'dubois', got {method!r}")


def _parse_unit(unit: str) -> tuple[str, str | None]:
    """``"mg/m2"`` -> (``"mg"``, ``"BSA"``); ``"cells"`` -> (``"cells"``, None)."""
    base, _, per = unit.replace(" ", "").partition("/")
    if not base:
        raise ValueError(f"dose unit {unit!r} has no amount unit; write e.g. 'mg/m2'")
    if per and per not in _PER:
        raise ValueError(f"dose unit {unit!r}: per-{per} is not known; use /kg or /m2")
    return base, _PER.get(per)


@dataclass(frozen=True)
class Dose:
    """One administration, or ``count`` of them ``every`` time units apart.

    Parameters
    ----------
    amount : float
        In ``unit``.
    unit : str
        ``"mg"``, ``"ug"``, ``"cells"``, ... optionally per kg (× WT) or per m² (× BSA):
        ``"cells/kg"``, ``"mg/m2"``.
    cmt : str or int
        Target compartment (state name or 1-based number).
    time : float
        First administration, model time unit.
    duration, rate : float, optional
        An infusion, by its duration (time unit) or its rate (amount_unit per time unit).
        Neither: a bolus.
    every : float, optional
        Interval between administrations (NONMEM II).
    count : int
        Number of administrations.
    amount_unit : str, optional
        The compartment's mass unit, when it differs from the dose's (e.g. mg/m² into a
        compartment counted in µg).
    """

    amount: float
    unit: str
    cmt: str | int
    time: float = 0.0
    duration: float | None = None
    rate: float | None = None
    every: float | None = None
    count: int = 1
    amount_unit: str | None = None

    def __post_init__(self):
        if not (math.isfinite(self.amount) and self.amount > 0):
            raise ValueError(f"Dose amount must be finite and > 0, got {self.amount!r}")
        if not math.isfinite(self.time):
            raise ValueError(f"Dose time must be finite, got {self.time!r}")
        if self.duration is not None and self.rate is not None:
            raise ValueError("a Dose takes either duration= or rate=, not both")
        for name in ("duration", "rate"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"Dose {name} must be finite and > 0, got {value!r}")
        if int(self.count) != self.count or self.count < 1:
            raise ValueError(f"Dose count must be a whole number >= 1, got {self.count!r}")
        if self.count > 1 and not (self.every is not None and self.every > 0):
            raise ValueError(f"Dose count={self.count} needs every= (the interval) > 0")
        base, _ = _parse_unit(self.unit)
        if self.amount_unit is not None and (base not in _MASS or self.amount_unit not in _MASS):
            raise ValueError(
                f"amount_unit={self.amount_unit!r} converts between mass units only "
                f"({sorted(_MASS)}); the dose is in {base!r}")

    def scale(self, covariates: Mapping[str, float]) -> float:
        """The amount per administration, in the compartment's unit, for one subject."""
        base, per = _parse_unit(self.unit)
        value = self.amount
        if per is not None:
            if per not in covariates or not np.isfinite(covariates[per]):
                raise ValueError(
                    f"a dose in {self.unit} needs the subject's {per}; give a {per} column"
                    + (" (or WT and HT to compute it)" if per == "BSA" else ""))
            value *= float(covariates[per])
        if self.amount_unit is not None:
            value *= _MASS[base] / _MASS[self.amount_unit]
        return value

    def records(self, covariates: Mapping[str, float]) -> dict:
        amt = self.scale(covariates)
        return {
            "TIME": self.time, "EVID": 1, "MDV": 1, "AMT": amt, "CMT": self.cmt,
            "RATE": self.rate if self.rate is not None else 0.0,
            "DUR": self.duration if self.duration is not None else 0.0,
            "ADDL": self.count - 1, "II": self.every if self.count > 1 else 0.0, "SS": 0,
        }


@dataclass(frozen=True)
class Regimen:
    """A set of doses, for any number of subjects."""

    doses: tuple[Dose, ...]
    name: str = ""

    def __add__(self, other: Regimen) -> Regimen:
        return Regimen(self.doses + other.doses, name=" + ".join(n for n in (self.name,
                                                                               other.name) if n))

    def to_dataset(self, subjects: pd.DataFrame | Mapping | None = None, times=(),
                   *, bsa_method: str = "mosteller") -> Dataset:
        """Cross the regimen with subjects and sampling times.

        ``subjects`` has one row per subject: an optional ``ID`` column and covariates (WT,
        HT, BSA, ...). BSA is computed from WT and HT when a dose needs it and it is absent.
        Sampling times become EVID 0, MDV 1 records (no DV).
        """
        return population_table(self, subjects, times, bsa_method=bsa_method)


def regimen(*doses: Dose, name: str = "") -> Regimen:
    """A `Regimen` from doses."""
    if not doses:
        raise ValueError("regimen() needs at least one Dose")
    return Regimen(tuple(doses), name=name)


def population_table(regimen: Regimen, subjects=None, times=(), *,
                     bsa_method: str = "mosteller") -> Dataset:
    """NONMEM records for ``regimen`` given to every subject, sampled at ``times``."""
    if subjects is None:
        subjects = pd.DataFrame({"ID": [1]})
    subjects = pd.DataFrame(subjects).reset_index(drop=True)
    if "ID" not in subjects:
        subjects.insert(0, "ID", np.arange(1, len(subjects) + 1))
    per = {_parse_unit(d.unit)[1] for d in regimen.doses}
    needs_bsa = "BSA" in per
    if needs_bsa and "BSA" not in subjects:
        if not {"WT", "HT"} <= set(subjects):
            raise DataError(DataProblem(
                "a dose per m² needs BSA, or WT [kg] and HT [cm], for each subject",
                "give a BSA column, or WT and HT columns", column="BSA"))
        _check_body_size(subjects, ("WT", "HT"))
        subjects["BSA"] = bsa(subjects["WT"], subjects["HT"], bsa_method)
    _check_body_size(subjects, [c for c in ("WT", "BSA") if c in per])
    covariates = [c for c in subjects.columns if c != "ID"]
    times = np.asarray(times, dtype=float).reshape(-1)
    records = []
    for subject in subjects.to_dict("records"):
        rows = [dose.records(subject) for dose in regimen.doses]
        rows += [{"TIME": t, "EVID": 0, "MDV": 1, "AMT": 0.0, "CMT": ".", "RATE": 0.0,
                  "DUR": 0.0, "ADDL": 0, "II": 0.0, "SS": 0} for t in times]
        rows.sort(key=lambda r: (r["TIME"], r["EVID"] == 0))  # doses first at equal times
        for row in rows:
            row["ID"] = subject["ID"]
            row.update({c: subject[c] for c in covariates})
        records += rows
    frame = pd.DataFrame(records, columns=["ID", "TIME", "EVID", "MDV", "AMT", "CMT", "RATE",
                                           "DUR", "ADDL", "II", "SS", *covariates])
    frame["DV"] = np.nan
    return read_nonmem(frame)


_BODY_UNITS = {"WT": "kg", "HT": "cm", "BSA": "m²"}


def _check_body_size(subjects: pd.DataFrame, columns) -> None:
    """Covariates a dose is scaled by must be finite and > 0, named with the subject: a
    WT of 0 would otherwise surface as an AMT error in a table the user never wrote."""
    problems = []
    for col in columns:
        if col not in subjects:
            continue
        values = pd.to_numeric(subjects[col], errors="coerce").to_numpy(dtype=float)
        for k in np.flatnonzero(~(np.isfinite(values) & (values > 0))):
            problems.append(DataProblem(
                f"subject {subjects['ID'].iloc[k]} has {col} = {subjects[col].iloc[k]!r}; a "
                f"dose scaled by {col} needs it finite and > 0", f"give {col} in "
                f"{_BODY_UNITS[col]}", row=int(k) + 1, column=col))
    if problems:
        raise DataError(problems, "subjects")


# -- protocol regimens ----------------------------------------------------------------------

def msc_ifna_monotherapy(dose: float = 2e6, infusions: int = 1, interval: float = 28.0,
                         infusion_duration: float = INFUSION_30_MIN_DAYS) -> Regimen:
    """MSC-IFNα alone: 1-4 infusions of ``dose`` cells/kg into ``msc_blood``, every
    ``interval`` days (28 by default; the protocol allows 28-42), each over 30 min."""
    if infusions not in (1, 2, 3, 4):
        raise ValueError(f"the protocol gives 1-4 infusions, got infusions={infusions!r}")
    if not 28.0 <= interval <= 42.0:
        raise ValueError(f"the protocol's interval is 4-6 weeks (28-42 days), got {interval!r}")
    return regimen(Dose(dose, "cells/kg", "msc_blood", duration=infusion_duration,
                        every=interval, count=infusions), name="MSC-IFNa monotherapy")


def msc_ifna_combination(dose: float = 2e6, cycles: int = 12, cycle_length: float = 28.0,
                         pd1_interval_late: float = 21.0,
                         infusion_duration: float = INFUSION_30_MIN_DAYS) -> Regimen:
    """MSC-IFNα with immunochemotherapy (Arm 2); day 0 is cycle 1's MSC infusion.

    - Cycles 1-4: nab-paclitaxel 125 mg/m² (into ``pac_central``, in µg) on day −5,
      cyclophosphamide 200 mg/m² (``cyc_central``, mg) on day −4, MSC ``dose`` cells/kg
      (``msc_blood``) on day 0, anti-PD-1 200 mg (``pd1_central``) on day +7.
    - Cycles 5-8: MSC on day 0 and anti-PD-1 on day +7.
    - Cycles 9-12: anti-PD-1 alone, every ``pd1_interval_late`` days from the start of cycle 9.

    Every administration is a 30-min infusion.
    """
    if not 1 <= cycles <= 12 or int(cycles) != cycles:
        raise ValueError(f"cycles must be 1-12, got {cycles!r}")
    inf = dict(duration=infusion_duration)
    chemo_cycles, msc_cycles = min(cycles, 4), min(cycles, 8)
    doses = [
        Dose(125.0, "mg/m2", "pac_central", time=-5.0, amount_unit="ug",
             every=cycle_length, count=chemo_cycles, **inf),
        Dose(200.0, "mg/m2", "cyc_central", time=-4.0, every=cycle_length,
             count=chemo_cycles, **inf),
        Dose(dose, "cells/kg", "msc_blood", time=0.0, every=cycle_length, count=msc_cycles,
             **inf),
        Dose(200.0, "mg", "pd1_central", time=7.0, every=cycle_length, count=msc_cycles, **inf),
    ]
    if cycles > 8:
        doses.append(Dose(200.0, "mg", "pd1_central", time=8 * cycle_length,
                          every=pd1_interval_late, count=cycles - 8, **inf))
    return regimen(*doses, name="MSC-IFNa + immunochemotherapy")


def nkg2d_carnk(dose: float, per_kg: bool = False, cmt: str = "e_pb",
                infusion_duration: float = INFUSION_30_MIN_DAYS) -> Regimen:
    """NKG2D-CAR-NK: one infusion of ``dose`` cells (flat), or cells/kg with ``per_kg``, into
    the effector compartment ``cmt`` of the CAR-NK model."""
    return regimen(Dose(dose, "cells/kg" if per_kg else "cells", cmt,
                        duration=infusion_duration), name="NKG2D-CAR-NK")
