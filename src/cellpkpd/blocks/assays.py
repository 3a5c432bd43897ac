"""Assay observation models: what a lab reports, in its unit, with its typical LLOQ and the
default residual error (MODELS.md §1g)."""

from __future__ import annotations

from collections.abc import Callable

from ..model import Output, ResidualError

DNA_PER_CELL_PG = 6.6
CELLS_PER_UG_GDNA = 1e6 / DNA_PER_CELL_PG  # ≈ 151,515 diploid cells per µg genomic DNA
BLOOD_ML_PER_KG = 70.0

QPCR_ERROR = ResidualError("lognormal", sigma=0.5)
ELISA_ERROR = ResidualError("lognormal", sigma=0.3)
FLOW_ERROR = ResidualError("lognormal", sigma=0.2)
SLD_ERROR = ResidualError("combined", add=3.0, prop=0.1)


def qpcr(name: str, fn: Callable, description: str, lloq: float = 10.0) -> Output:
    """Transgene copies per µg genomic DNA."""
    return Output(name, "copies/µg gDNA", fn, description, lloq=lloq, error=QPCR_ERROR)


def elisa(name: str, fn: Callable, description: str, lloq: float) -> Output:
    """Serum concentration in pg/mL."""
    return Output(name, "pg/mL", fn, description, lloq=lloq, error=ELISA_ERROR)


def flow_count(name: str, fn: Callable, description: str) -> Output:
    """Flow-cytometry absolute count in cells/µL."""
    return Output(name, "cells/µL", fn, description, error=FLOW_ERROR)


def flow_percent(name: str, fn: Callable, description: str) -> Output:
    """Flow-cytometry proportion in %."""
    return Output(name, "%", fn, description, error=FLOW_ERROR)


def sld(fn: Callable) -> Output:
    """RECIST sum of longest diameters."""
    return Output("sld", "mm", fn, "sum of longest diameters (CT/MRI)", error=SLD_ERROR)


def copies_per_ug_in_blood(cells, weight_kg, wbc_per_ul, vcn):
    """qPCR signal of ``cells`` transduced cells spread in the blood volume, per µg of blood
    gDNA: the transduced fraction of nucleated cells × cells per µg × copies per cell."""
    cells_per_ul = cells / (BLOOD_ML_PER_KG * weight_kg * 1000.0)
    return vcn * CELLS_PER_UG_GDNA * cells_per_ul / wbc_per_ul
