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

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dataset import Dataset
from .dose_units import amount_factor, dose_factor, parse_dose_unit
from .errors import ArgumentTypeError, DataError, DataProblem, ParameterError, UnitError
from .nonmem import read_nonmem

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
    raise ParameterError(f"bsa(method=) must be 'mosteller' or 'dubois', got {method!r}; "
                         "pass method='mosteller' (the default) or method='dubois'")


@dataclass(frozen=True)
class Dose:
    """One administration, or ``count`` of them ``every`` time units apart.

    Parameters
    ----------
    amount : float
        In ``unit``.
    unit : str
        ``"mg"``, ``"ug"``, ``"cells"``, ``"1e6 cells"``, ... optionally per kg (× WT) or per
        m² (× BSA): ``"cells/kg"``, ``"mg/m2"`` (see `cellpkpd.dose_units`). Checked against
        the unit the target compartment declares when the dose meets a model: a mass is
        converted (mg into a compartment in µg is × 1000), any other mismatch is an error.
    cmt : str or int
        Target compartment (state name or 1-based number).
    time : float
        First administration, model time unit.
    duration, rate : float, optional
        An infusion, by its duration (time unit) or its rate (`table_unit` per time unit,
        converted with the amount when the dose meets a model).
        Neither: a bolus.
    every : float, optional
        Interval between administrations (NONMEM II).
    count : int
        Number of administrations.
    amount_unit : str, optional
        The unit AMT is written in, in a table built without a model (default: the dose's
        amount unit, e.g. mg for mg/m²). It need not be given: the table records it, and the
        dose is converted into the compartment's declared unit when it meets the model.
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
        for name in ("amount", "time", "duration", "rate", "every", "count"):
            value = getattr(self, name)
            if value is None and name in ("duration", "rate", "every"):
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ArgumentTypeError(f"Dose {name}= must be a real number, got {value!r} "
                                        f"({type(value).__name__}); pass a number, e.g. "
                                        f"{name}=1.0")
        if not (math.isfinite(self.amount) and self.amount > 0):
            raise ParameterError(f"Dose amount must be finite and > 0, got {self.amount!r}; give "
                                 f"the amount in {self.unit!r} as a positive number")
        if not math.isfinite(self.time):
            raise ParameterError(f"Dose time= must be finite, got {self.time!r}; give the first "
                                 "administration in the model's time unit")
        if self.duration is not None and self.rate is not None:
            raise ParameterError(f"{self.describe()}: a Dose takes either duration= or rate=, not "
                                 "both; drop one of them")
        for name in ("duration", "rate"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ParameterError(f"Dose {name}= must be finite and > 0, got {value!r}; leave "
                                     "both duration= and rate= out for a bolus")
        if not math.isfinite(self.count) or int(self.count) != self.count or self.count < 1:
            raise ParameterError(f"Dose count= must be a whole number >= 1, got {self.count!r}; "
                                 "give the number of administrations")
        if self.count > 1 and not (self.every is not None and math.isfinite(self.every)
                                   and self.every > 0):
            raise ParameterError(f"Dose count={self.count} needs every= (the interval) > 0, got "
                                 f"every={self.every!r}; give the time between administrations")
        parsed = parse_dose_unit(self.unit, what=f"{self.describe()}: unit")
        if self.amount_unit is not None:
            # Same dimension as the dose (a cells dose cannot be written in mg).
            amount_factor(parsed, self.amount_unit, what=f"{self.describe()}: amount_unit")

    def describe(self) -> str:
        """``"dose 125 mg/m2 into 'pac_central'"``, for messages."""
        return f"dose {self.amount:g} {self.unit} into {self.cmt!r}"

    @property
    def table_unit(self) -> str:
        """The unit of the AMT this dose writes in a table built without a model."""
        return self.amount_unit or parse_dose_unit(self.unit).amount_text

    def scale(self, covariates: Mapping[str, float], model=None) -> float:
        """The amount per administration for one subject: in the unit of the model's target
        compartment when ``model`` is given, otherwise in `table_unit`."""
        parsed = parse_dose_unit(self.unit)
        size = None
        if parsed.per is not None:
            per = parsed.per
            if per not in covariates or not np.isfinite(covariates[per]):
                raise ParameterError(
                    f"{self.describe()} needs the subject's {per}; give a {per} column"
                    + (" (or WT and HT to compute it)" if per == "BSA" else ""))
            size = float(covariates[per])
        return parsed.absolute(self.amount, size) * self.factor(model)

    def factor(self, model=None) -> float:
        """What an amount in the dose's own amount unit is multiplied by to be in the model's
        compartment unit (``model`` given) or in `table_unit`."""
        parsed = parse_dose_unit(self.unit)
        if model is not None:
            return dose_factor(model, self.cmt, parsed.amount_text, dose=self.describe())
        if self.amount_unit is None:
            return 1.0
        return amount_factor(parsed, self.amount_unit, what=f"{self.describe()}: amount_unit")

    def records(self, covariates: Mapping[str, float], model=None) -> dict:
        amt = self.scale(covariates, model)
        rate = 0.0
        if self.rate is not None:
            rate = self.rate * (1.0 if model is None else
                                dose_factor(model, self.cmt, self.table_unit,
                                            dose=self.describe()))
        return {
            "TIME": self.time, "EVID": 1, "MDV": 1, "AMT": amt, "CMT": self.cmt,
            "RATE": rate,
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
                   *, bsa_method: str = "mosteller", model=None) -> Dataset:
        """Cross the regimen with subjects and sampling times.

        ``subjects`` has one row per subject: an optional ``ID`` column and covariates (WT,
        HT, BSA, ...). BSA is computed from WT and HT when a dose needs it and it is absent.
        Sampling times become EVID 0, MDV 1 records (no DV). With ``model``, AMT is in each
        target compartment's declared unit; without, in each dose's `Dose.table_unit`, which
        the dataset records (`Dataset.dose_unit`) for the model to convert.
        """
        return population_table(self, subjects, times, bsa_method=bsa_method, model=model)


def regimen(*doses: Dose, name: str = "") -> Regimen:
    """A `Regimen` from doses."""
    if not doses:
        raise ParameterError("regimen() needs at least one Dose; call regimen(Dose(...), ...)")
    return Regimen(tuple(doses), name=name)


def population_table(regimen: Regimen, subjects=None, times=(), *,
                     bsa_method: str = "mosteller", model=None) -> Dataset:
    """NONMEM records for ``regimen`` given to every subject, sampled at ``times``.

    With ``model``, every dose is checked against, and converted into, the unit its target
    compartment declares (a `UnitError` names the dose otherwise); without, AMT is in each
    dose's `Dose.table_unit` and the dataset records it per CMT (`Dataset.dose_unit`).
    """
    if subjects is None:
        subjects = pd.DataFrame({"ID": [1]})
    subjects = pd.DataFrame(subjects).reset_index(drop=True)
    if "ID" not in subjects:
        subjects.insert(0, "ID", np.arange(1, len(subjects) + 1))
    per = {parse_dose_unit(d.unit).per for d in regimen.doses}
    needs_bsa = "BSA" in per
    if needs_bsa and "BSA" not in subjects:
        if not {"WT", "HT"} <= set(subjects):
            raise DataError(DataProblem(
                "a dose per m² needs BSA, or WT [kg] and HT [cm], for each subject",
                "give a BSA column, or WT and HT columns", column="BSA"))
        _check_body_size(subjects, ("WT", "HT"))
        subjects["BSA"] = bsa(subjects["WT"], subjects["HT"], bsa_method)
    _check_body_size(subjects, [c for c in ("WT", "BSA") if c in per])
    units, merge = (None, [1.0] * len(regimen.doses)) if model is not None \
        else _table_units(regimen)
    covariates = [c for c in subjects.columns if c != "ID"]
    times = np.asarray(times, dtype=float).reshape(-1)
    records = []
    for subject in subjects.to_dict("records"):
        rows = []
        for dose, factor in zip(regimen.doses, merge, strict=True):
            row = dose.records(subject, model)
            row["AMT"] *= factor
            row["RATE"] *= factor
            rows.append(row)
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
    data = read_nonmem(frame)
    return data if units is None else dataclasses.replace(data, dose_unit=units)


def _table_units(regimen: Regimen) -> tuple[dict, list[float]]:
    """The AMT unit per CMT (that of the first dose into it), and the factor that puts each
    dose in its CMT's unit (later doses into the same CMT may be written in another)."""
    from .events import cmt_key

    units: dict = {}
    merge = []
    for dose in regimen.doses:
        key = cmt_key(dose.cmt)
        unit = units.setdefault(key, dose.table_unit)
        try:
            merge.append(amount_factor(dose.table_unit, unit,
                                       what=f"the unit of the earlier doses into {dose.cmt!r}"))
        except UnitError as err:
            raise UnitError(f"{dose.describe()}: {err.problem}", err.fix) from None
    return units, merge


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

def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def msc_ifna_monotherapy(dose: float = 2e6, infusions: int = 1, interval: float = 28.0,
                         infusion_duration: float = INFUSION_30_MIN_DAYS) -> Regimen:
    """MSC-IFNα alone: 1-4 infusions of ``dose`` cells/kg into ``msc_blood``, every
    ``interval`` days (28 by default; the protocol allows 28-42), each over 30 min."""
    if isinstance(infusions, bool) or infusions not in (1, 2, 3, 4):
        raise ParameterError(f"the protocol gives 1-4 infusions, got infusions={infusions!r}; "
                             "pass infusions=1, 2, 3 or 4")
    if not (_is_real(interval) and 28.0 <= interval <= 42.0):
        raise ParameterError(f"the protocol's interval is 4-6 weeks (28-42 days), got "
                             f"interval={interval!r}; pass interval= between 28 and 42")
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
    if not (_is_real(cycles) and 1 <= cycles <= 12 and int(cycles) == cycles):
        raise ParameterError(f"cycles must be a whole number 1-12, got cycles={cycles!r}; the "
                             "protocol gives at most 12 cycles")
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
