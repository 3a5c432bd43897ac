"""Composable model blocks. A model in ``models/`` is a short `compose` of these."""

from . import assays, singh2021
from .cells import (
    car_cell_kinetics,
    effector_pool,
    ifn_secretion,
    msc_distribution,
    multiphasic_expansion,
)
from .core import Block, Derived, compose
from .drugs import cyclophosphamide, nab_paclitaxel, pembrolizumab
from .pd import emax_effect, friberg, hyperbolic, indirect_response, turnover
from .pk import linear_pk, michaelis_menten, tmdd_qss, transit_absorption
from .tumor import myeloma, safe_power, sld_tumor

__all__ = [
    "Block", "Derived", "assays", "car_cell_kinetics", "compose", "cyclophosphamide",
    "effector_pool", "emax_effect", "friberg", "hyperbolic", "ifn_secretion",
    "indirect_response", "linear_pk", "michaelis_menten", "msc_distribution",
    "multiphasic_expansion", "myeloma", "nab_paclitaxel", "pembrolizumab", "safe_power",
    "singh2021", "sld_tumor", "tmdd_qss", "transit_absorption", "turnover",
]  # fmt: skip
