"""Dose units: what a dose's unit means, and the factor that puts it in a compartment's unit.

A dose unit is an amount, optionally per body size:

- the amount is a mass (``mg``, ``ug``, ``µg``, ``mcg``, ``g``, ``ng``), an amount of substance
  (``nmol``), a cell count (``cells``) or a transgene copy count (``copies``), with an optional
  positive multiplier (``1e6 cells``, ``10^6 cells``);
- the normaliser is nothing (a flat dose), a weight (``/kg``: multiplied by the subject's WT in
  kg) or an area (``/m2``, ``/m^2``, ``/m²``: multiplied by BSA in m²).

A dose goes into a state whose declared unit (``State(name, unit)``) has the same dimension:
a mass into a compartment in µg is converted (mg -> µg is × 1000); a cell count into a mass
compartment, a mass into a cell compartment, or a unit nobody defines (``cels/kg``) is a
`UnitError` that names the dose, the compartment and its unit. Units are parsed by pint, with
a project registry that adds ``cell`` and ``copy`` as counts of their own dimension (a cell is
not a gram, and 1e6 cells is not 1e6 copies).
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from dataclasses import dataclass

import pint

from .errors import UnitError

#: Body-size normalisers: the covariate a per-X dose is multiplied by, and X's own unit.
_NORMALISERS = {"[mass]": ("WT", "kg"), "[length] ** 2": ("BSA", "m**2")}
#: Dimensions a dose amount may have.
_AMOUNTS = {"[mass]": "a mass", "[substance]": "an amount of substance",
            "[cell]": "a cell count", "[copy]": "a copy count"}
#: Spellings offered for a unit nobody defines ("cels" -> "did you mean 'cells'?").
_COMMON = ("mg", "ug", "µg", "mcg", "g", "ng", "pg", "kg", "nmol", "umol", "mmol", "mol",
           "cells", "cell", "copies", "m2", "L", "mL")
_WRITE = ("write a mass (mg, ug), nmol, cells or copies, optionally per kg or per m2, e.g. "
          "'mg', 'mg/m2', 'cells/kg' or '1e6 cells/kg'")
_POWER = re.compile(r"(?<=[A-Za-zµμ])([23])\b")  # "m2" -> "m**2", "cm3" -> "cm**3"


@functools.cache
def registry() -> pint.UnitRegistry:
    """The project's unit registry: pint's units plus ``cell`` and ``copy`` counts."""
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=False)
    ureg.define("cell = [cell] = cells")
    ureg.define("copy = [copy] = copies")
    return ureg


@dataclass(frozen=True)
class DoseUnit:
    """A parsed dose unit: ``multiplier`` × ``amount`` [× ``per`` covariate].

    ``per`` is ``"WT"`` (per kg), ``"BSA"`` (per m²) or None (flat); ``per_factor`` converts
    the normaliser to kg or m² (1 for ``/kg``, 1000 for ``/g``).
    """

    text: str
    amount: pint.Unit
    multiplier: float = 1.0
    per: str | None = None
    per_factor: float = 1.0

    @property
    def amount_text(self) -> str:
        """The amount unit alone, e.g. ``"mg"``, ``"cell"``: the unit of the scaled dose."""
        return f"{self.amount:~}"

    @property
    def kind(self) -> str:
        return _AMOUNTS[str(_dimensionality(self.amount))]

    def absolute(self, amount, size=None):
        """``amount`` in this unit as an absolute amount in ``amount_text`` units, for a
        subject of body size ``size`` (WT in kg or BSA in m², per ``per``; ignored if flat).
        Arrays broadcast."""
        value = amount * self.multiplier
        if self.per is not None:
            value = value * self.per_factor * size
        return value


def _quantity(text: str, what: str, full: str | None = None) -> pint.Quantity:
    """``text`` (a part of ``full``) as a pint quantity (a magnitude and a unit), or a
    UnitError saying why not."""
    ureg = registry()
    full = text if full is None else full
    try:
        q = ureg.parse_expression(_POWER.sub(r"**\1", text))
    except pint.UndefinedUnitError as err:
        names = getattr(err, "unit_names", None) or [str(err)]
        name = names[0] if isinstance(names, (list, tuple)) else str(names)
        close = difflib.get_close_matches(str(name), _COMMON, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnitError(f"{what} {full!r}: {name!r} is not a unit", f"{hint}{_WRITE}") from None
    except Exception as err:  # pint's tokenizer errors: "mg//kg", "(mg"
        raise UnitError(f"{what} {full!r} cannot be read as a unit ({type(err).__name__})",
                        _WRITE) from None
    if not isinstance(q, pint.Quantity):  # a bare number: "1000"
        q = ureg.Quantity(float(q), "")
    return q


def _dimensionality(unit) -> str:
    return str(registry().Quantity(1.0, unit).dimensionality)


@functools.lru_cache(maxsize=512)
def parse_dose_unit(text: str, *, what: str = "dose unit") -> DoseUnit:
    """``"mg/m2"`` -> DoseUnit(mg, per BSA); ``"1e6 cells/kg"`` -> 1e6 cells per WT.

    Raises `UnitError` for an empty or unknown unit, an amount that is not a mass, substance,
    cell or copy count, or a normaliser that is not a weight or an area.
    """
    if not isinstance(text, str) or not text.strip():
        raise UnitError(f"{what} {text!r} is empty", _WRITE)
    amount_text, slash, per_text = text.strip().partition("/")
    if not amount_text.strip():
        raise UnitError(f"{what} {text!r} has no amount unit before '/'", _WRITE)
    q = _quantity(amount_text.strip(), what, text)
    dims = str(q.dimensionality)
    if dims not in _AMOUNTS:
        kind = "dimensionless" if q.dimensionless else f"of dimension {dims}"
        raise UnitError(f"{what} {text!r}: {amount_text.strip()!r} is {kind}, not an amount",
                        _WRITE)
    multiplier = float(q.magnitude)
    if not (math.isfinite(multiplier) and multiplier > 0):
        raise UnitError(f"{what} {text!r}: the multiplier {q.magnitude!r} is not finite and "
                        "> 0", "write a positive multiplier, e.g. '1e6 cells'")
    if not slash:
        return DoseUnit(text, q.units, multiplier)
    if not per_text.strip():
        raise UnitError(f"{what} {text!r} has nothing after '/'",
                        f"write per kg or per m2, e.g. '{amount_text.strip()}/kg'")
    p = _quantity(per_text.strip(), what, text)
    per_dims = str(p.dimensionality)
    if per_dims not in _NORMALISERS:
        raise UnitError(f"{what} {text!r}: per {per_text.strip()!r} is not a body size",
                        "a dose is per kg (× WT), per m2 (× BSA) or flat, e.g. "
                        f"'{amount_text.strip()}/kg' or '{amount_text.strip()}'")
    covariate, own = _NORMALISERS[per_dims]
    # amount per p = amount / (p in kg) per kg: "mg/g" is 1000 mg/kg.
    per_factor = 1.0 / float(p.to(own).magnitude)
    return DoseUnit(text, q.units, multiplier, covariate, per_factor)


@functools.lru_cache(maxsize=512)
def compartment_unit(unit: str, compartment: str, model_name: str = "") -> pint.Unit:
    """The amount unit a compartment declares, as a pint unit (with its multiplier folded in
    by `conversion_factor`). Raises `UnitError` when it is not an amount a dose can fill."""
    where = f"compartment {compartment!r}" + (f" of model {model_name!r}" if model_name else "")
    q = _quantity(unit, f"{where}: its unit")
    dims = str(q.dimensionality)
    if dims not in _AMOUNTS:
        raise UnitError(
            f"{where} is declared in {unit!r}, which is not an amount (a mass, nmol, cells or "
            "copies), so a dose with a stated unit cannot go into it",
            "dose a compartment declared in an amount, or declare this state's unit as one")
    return q


def conversion_factor(dose_unit: str | DoseUnit, compartment: str, unit: str, *,
                      model_name: str = "", dose: str | None = None) -> float:
    """The number an amount in ``dose_unit`` (flat, or already multiplied by body size) is
    multiplied by to be in ``unit``, the declared unit of ``compartment``.

    ``"mg"`` into ``"µg"`` is 1000; ``"1e6 cells"`` into ``"cells"`` is 1e6; a dimension
    mismatch (cells into mg, mg into nmol) is a `UnitError` naming ``dose`` (a description of
    the dose, default: its unit), the compartment and its unit, and the fix.
    """
    parsed = dose_unit if isinstance(dose_unit, DoseUnit) else parse_dose_unit(dose_unit)
    target = compartment_unit(unit, compartment, model_name)
    source = registry().Quantity(parsed.multiplier, parsed.amount)
    if str(source.dimensionality) != str(target.dimensionality):
        where = f"compartment {compartment!r}" + (f" of model {model_name!r}"
                                                 if model_name else "")
        got = _AMOUNTS[str(source.dimensionality)]
        want = _AMOUNTS[str(target.dimensionality)]
        hint = (" (mass and amount of substance need a molar mass: give the dose in the "
                "compartment's unit)" if {got, want} == {"a mass", "an amount of substance"}
                else "")
        raise UnitError(
            f"{dose or f'a dose in {parsed.text!r}'} is {got}, but {where} is declared in "
            f"{unit!r}, {want}{hint}", f"give the dose in a unit of {want} (e.g. "
            f"{_example(want)}), or dose the compartment that holds {got}")
    return float((source / target).to("").magnitude)


def amount_factor(source: str | DoseUnit, target: str, *, what: str) -> float:
    """The number an amount in ``source`` is multiplied by to be in ``target``, two flat
    amount units (``"mg"`` -> ``"ug"`` is 1000); ``what`` names ``target`` in errors."""
    s = source if isinstance(source, DoseUnit) else parse_dose_unit(source)
    t = parse_dose_unit(target, what=what)
    if t.per is not None:
        raise UnitError(f"{what} {target!r} is per body size",
                        f"give the flat unit the amount is written in, e.g. {t.amount_text!r}")
    a = registry().Quantity(s.multiplier, s.amount)
    b = registry().Quantity(t.multiplier, t.amount)
    if str(a.dimensionality) != str(b.dimensionality):
        raise UnitError(f"{what} {target!r} is {t.kind}, but the amount is {s.kind} "
                        f"({s.text!r})", f"give a unit of {s.kind}, e.g. {_example(s.kind)}")
    return float((a / b).to("").magnitude)


def _example(kind: str) -> str:
    return {"a mass": "'mg' or 'mg/m2'", "an amount of substance": "'nmol'",
            "a cell count": "'cells' or 'cells/kg'", "a copy count": "'copies'"}[kind]


def state_of(model, cmt):
    """The `State` a dose's ``cmt`` (state name, case-insensitive, or 1-based number) names,
    or None when the model has no such compartment (that error is the caller's)."""
    names = list(model.state_names)
    if isinstance(cmt, str):
        if cmt in names:
            return model.states[names.index(cmt)]
        lowered = [n.lower() for n in names]
        return model.states[lowered.index(cmt.lower())] if cmt.lower() in lowered else None
    try:
        number = float(cmt)
    except (TypeError, ValueError):
        return None
    if number.is_integer() and 1 <= number <= len(names):
        return model.states[int(number) - 1]
    return None


def dose_factor(model, cmt, dose_unit: str | DoseUnit, *, dose: str | None = None) -> float:
    """`conversion_factor` into the compartment ``cmt`` of ``model``."""
    state = state_of(model, cmt)
    if state is None:
        raise UnitError(f"{dose or 'a dose'}: compartment {cmt!r} is not a state of model "
                        f"{model.name!r}", f"use one of {list(model.state_names)}")
    return conversion_factor(dose_unit, state.name, state.unit, model_name=model.name,
                             dose=dose)
