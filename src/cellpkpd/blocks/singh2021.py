"""The published parameter table of Singh et al. 2021 (anti-BCMA CAR-T in myeloma), shared by
the CAR-T model and the CAR-NK model built on its structure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import ModelError
from ..model import Param

SINGH_2021 = "Singh AP et al. CPT Pharmacometrics Syst Pharmacol 2021;10:362-376"


def _lit(name: str, value: float, unit: str, description: str) -> Param:
    return Param(name, value, unit, description, tag="lit", source=SINGH_2021)


CELL_PARAMS = (
    _lit("kexp_max", 1.73, "1/day", "maximum expansion rate of effector CAR cells"),
    _lit("ec50_exp", 10.0, "complexes/cell", "bound CAR per CAR cell at half-maximal expansion"),
    _lit("rm", 2e-5, "1/day", "effector -> memory conversion"),
    _lit("kkill_max", 0.343, "1/day", "maximum tumor kill rate"),
    _lit("kc50_kill", 2.24, "complexes/cell", "bound CAR per tumor cell at half-maximal kill"),
    _lit("kel_e", 113.0, "1/day", "elimination of effector CAR cells from blood"),
    _lit("kel_m", 0.219, "1/day", "elimination of memory CAR cells from blood"),
    _lit("k12", 1.71, "1/day", "blood -> marrow"),
    _lit("k21", 0.176, "1/day", "marrow -> blood"),
    _lit("kon", 7.103e4, "1/M/s", "CAR–antigen association rate"),
    _lit("koff", 2.385e-3, "1/s", "CAR–antigen dissociation rate"),
    _lit("ag_car", 15000.0, "1/cell", "CAR molecules per CAR cell"),
    _lit("v_bm", 3.65, "L", "bone-marrow volume"),
)
MYELOMA_PARAMS = (
    _lit("kg", 0.008, "1/day", "myeloma growth rate"),
    _lit("tumor0", 2.5e9, "cells/L", "baseline myeloma cells per litre of marrow"),
    _lit("pm", 12.1, "pg/cell/day", "M-protein secretion per myeloma cell"),
    _lit("km", 0.117, "1/day", "M-protein elimination"),
    _lit("gam_m", 0.215, "1", "exponent of relative burden on M-protein secretion"),
)
SBCMA_PARAMS = (
    _lit("pb", 0.175, "ng/mL/day per 1e6 cells/L", "sBCMA secretion"),
    _lit("kb", 0.7, "1/day", "sBCMA elimination"),
    _lit("gam_b", 1.0, "1", "exponent of relative burden on sBCMA secretion"),
)
BLOOD_PARAMS = (
    _lit("transc", 0.002, "copies/µg per cell/L", "transgene copies/µg per CAR cell per "
         "litre of blood"),
    _lit("v_blood", 5.0, "L", "blood volume"),
)


def value(name: str) -> float:
    """A published value by name."""
    for p in CELL_PARAMS + MYELOMA_PARAMS + SBCMA_PARAMS + BLOOD_PARAMS:
        if p.name == name:
            return p.value
    raise KeyError(name)


def with_changes(params: Sequence[Param], changes: Mapping[str, Param]) -> tuple[Param, ...]:
    """``params`` with the entries named in ``changes`` replaced (a variant model's values)."""
    unknown = sorted(set(changes) - {p.name for p in params})
    if unknown:
        raise ModelError(f"no Singh 2021 parameters named {unknown} to replace")
    return tuple(changes.get(p.name, p) for p in params)
