"""Infused-cell blocks: MSC distribution and secretion, effector-cell pools, CAR-cell kinetics
with target binding (Singh 2021 structure), and Stein's multiphasic CAR-T kinetics."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp

from ..model import Param, State, Switch
from .core import Block
from .pd import turnover

AVOGADRO = 6.023e23  # as in Singh 2021
SECONDS_PER_DAY = 86400.0
TRACE_CELLS_PER_L = 1e-6  # MODELS.md's trace level of marrow effector cells


def msc_distribution(params: Sequence[Param], *, tumor_size: str = "sld",
                     tumor_baseline: str = "SLD0") -> Block:
    """IV-infused MSCs: blood, lungs (first-pass trapping), liver + spleen and tumor (cells)::

        d blood  = -(k_bl + k_bs + k_bt·(sld/SLD0))·blood + k_lb·lung
        d lung   =   k_bl·blood - (k_lb + k_dl)·lung
        d spleen =   k_bs·blood - k_ds·spleen
        d tumor  =   k_bt·(sld/SLD0)·blood - k_dt·tumor

    Homing to the tumor scales with its size relative to baseline. Cells leave only by the
    death terms ``k_dl``, ``k_ds`` and ``k_dt``.
    """

    def rates(t, s, p, c, d):
        homing = p.k_bt * s[tumor_size] / c[tumor_baseline]
        return {
            "msc_blood": -(p.k_bl + p.k_bs + homing) * s.msc_blood + p.k_lb * s.msc_lung,
            "msc_lung": p.k_bl * s.msc_blood - (p.k_lb + p.k_dl) * s.msc_lung,
            "msc_spleen": p.k_bs * s.msc_blood - p.k_ds * s.msc_spleen,
            "msc_tumor": homing * s.msc_blood - p.k_dt * s.msc_tumor,
        }

    return Block(
        name="msc_distribution",
        states=[State("msc_blood", "cells", "MSCs in blood (dosing compartment)"),
                State("msc_lung", "cells", "MSCs trapped in the lungs"),
                State("msc_spleen", "cells", "MSCs in liver and spleen"),
                State("msc_tumor", "cells", "MSCs homed to the tumor")],
        params=params, rates=rates,
        derived={"msc_total": lambda t, s, p, c, d: s.msc_blood + s.msc_lung + s.msc_spleen
                 + s.msc_tumor},
        infusion_duration={"msc_blood": lambda p, c, d: 1.0 / 48.0},
        references=("Gholamrezanezhad A et al. Nucl Med Biol 2011;38:961-967",),
    )


def ifn_secretion(params: Sequence[Param], *, weight: str = "WT") -> Block:
    """IFN-α secreted by the living cells and cleared linearly (per-kg CL and V)::

        d ifna = s_ifn·(all MSCs) - (cl_ifn/v_ifn)·ifna           [pg]
        c_ifna = ifna / (v_ifn·WT·1000)                          [pg/mL]
        c_ifna_tumor = s_ifn·msc_tumor/(k_loc·v_tumor) + c_ifna   [pg/mL]
    """
    return Block(
        name="ifn_secretion",
        states=[State("ifna", "pg", "IFN-α in the body")],
        params=params,
        rates=lambda t, s, p, c, d: {
            "ifna": p.s_ifn * d.msc_total - p.cl_ifn / p.v_ifn * s.ifna},
        derived={
            "c_ifna": lambda t, s, p, c, d: s.ifna / (p.v_ifn * c[weight] * 1000.0),
            "c_ifna_tumor": lambda t, s, p, c, d: (
                p.s_ifn * s.msc_tumor / (p.k_loc * d.v_tumor) + d.c_ifna),
        },
        references=("Roferon-A (interferon alfa-2a) prescribing information",),
    )


def effector_pool(state: str, *, kout: Param, baseline: str, proliferation: Callable | None,
                  loss: Callable, description: str) -> Block:
    """Blood effector-cell count (cells/µL) with turnover around a baseline::

        d X = kout·X0·(1 + P) - kout·(1 + L)·X

    ``proliferation`` P and ``loss`` L (margination, chemotherapy kill) are block functions.
    """
    return turnover(state, "cells/µL", kout=kout, baseline=baseline, production=proliferation,
                    loss=loss, description=description, name=f"effector_{state}")


def car_cell_kinetics(names: dict[str, str], params: Sequence[Param], *,
                      tumor: str = "tumor") -> Block:
    """CAR-cell kinetics with explicit CAR–antigen binding (Singh et al. 2021).

    Effector and memory cells in blood (``pb``) and bone marrow; effectors expand in marrow
    driven by bound CAR per cell and convert to memory at ``rm``; the complex forms with
    ``kon``/``koff`` (converted from /M/s and /s to per-day amounts per litre of marrow).
    ``names`` maps ``e_pb``, ``m_pb``, ``e_bm``, ``m_bm`` to the model's state names.
    Tumor kill ``kkill`` is a derived quantity for the tumor and cytokine blocks. There are no
    CAR cells before the first dose (see the block's assumptions).
    """
    e_pb, m_pb, e_bm, m_bm = (names[k] for k in ("e_pb", "m_pb", "e_bm", "m_bm"))

    def car_bm(t, s, p, c, d):
        return (s[e_bm] + s[m_bm]) / p.v_bm

    def kexp(t, s, p, c, d):
        # No CAR cells in marrow (before the first dose): nothing is bound, nothing expands.
        present = d.car_bm > 0
        per_cell = jnp.where(present, s.complex / jnp.where(present, d.car_bm, 1.0), 0.0)
        # Zero cells is an unstable equilibrium (bound CAR per cell does not depend on density),
        # so rounding noise of 1e-28 cells would grow into a response within months. Expansion
        # fades below a millionth of a cell per litre; at one cell per litre the factor is
        # 1 - 1e-6.
        fade = d.car_bm / (d.car_bm + TRACE_CELLS_PER_L)
        return p.kexp_max * per_cell / (p.ec50_exp + per_cell) * fade

    def kkill(t, s, p, c, d):
        per_cell = s.complex / s[tumor]
        return p.kkill_max * per_cell / (p.kc50_kill + per_cell)

    def rates(t, s, p, c, d):
        car_free = d.car_bm * p.ag_car - s.complex
        ag_free = s[tumor] * d.ag_tumor - s.complex
        kon = p.kon * SECONDS_PER_DAY / AVOGADRO
        koff = p.koff * SECONDS_PER_DAY
        return {
            e_pb: -p.k12 * s[e_pb] + p.k21 * s[e_bm] - p.kel_e * s[e_pb],
            m_pb: -p.k12 * s[m_pb] + p.k21 * s[m_bm] - p.kel_m * s[m_pb],
            e_bm: p.k12 * s[e_pb] - p.k21 * s[e_bm] + d.kexp * s[e_bm] - p.rm * s[e_bm],
            m_bm: p.k12 * s[m_pb] - p.k21 * s[m_bm] + p.rm * s[e_bm],
            "complex": kon * car_free * ag_free - koff * s.complex,
        }

    return Block(
        name="car_cell_kinetics",
        states=[State(e_pb, "cells", "effector CAR cells in blood (dosing compartment)"),
                State(m_pb, "cells", "memory CAR cells in blood"),
                State(e_bm, "cells", "effector CAR cells in bone marrow"),
                State(m_bm, "cells", "memory CAR cells in bone marrow"),
                State("complex", "1/L", "CAR–antigen complexes per litre of marrow")],
        params=params, rates=rates,
        derived={"car_bm": car_bm, "kexp": kexp, "kkill": kkill},
        assumptions=(
            "No CAR cells before the first dose, and bound CAR per cell is 0 while there are "
            "none. (MODELS.md starts marrow effectors at a trace of 1e-6·v_bm cells to keep "
            "the ratio finite, but bound CAR per cell does not depend on cell density, so that "
            "trace expands at ~1/day and clears the tumor within months without any dose.)",
            "Expansion is multiplied by car/(car + 1e-6 cells/L), so that numerical noise "
            "around zero cells cannot seed expansion; above 1 cell/L the change is < 1e-6.",
        ),
        references=("Singh AP et al. CPT Pharmacometrics Syst Pharmacol 2021;10:362-376",),
    )


def multiphasic_expansion(params: Sequence[Param]) -> Block:
    """Stein et al. (2019) multiphasic CAR-T kinetics, in transgene copies/µg.

    A dose (one infusion, AMT = 1) sets ``e`` to ``cmax/foldx``. Until ``tmax`` after it::

        d e = rho·e,  rho = ln(foldx)/tmax

    then (a switch of the solver, exact and differentiable in ``tmax``)::

        d e = -alpha·e,   d m = k·e - beta·m,   k = fb·(alpha - beta)

    so that after ``tmax`` the transgene is ``cmax·[(1 - fb)·exp(-alpha·τ) + fb·exp(-beta·τ)]``.
    Memory decays at ``beta`` throughout.
    """

    def rates(t, s, p, c, d):
        rho = jnp.log(p.foldx) / p.tmax
        contracting = c.contraction
        k = p.fb * (p.alpha - p.beta)
        return {
            "e": jnp.where(contracting > 0.5, -p.alpha, rho) * s.e,
            "m": contracting * k * s.e - p.beta * s.m,
        }

    return Block(
        name="multiphasic_expansion",
        states=[State("e", "copies/µg", "expanding, then contracting effector transgene "
                      "(dosing compartment)"),
                State("m", "copies/µg", "persisting memory transgene")],
        params=params, rates=rates,
        bioavailability={"e": lambda p, c, d: p.cmax / p.foldx},
        switches=[Switch("contraction", ("e",), delay=lambda p, c: p.tmax,
                         description="1 once tmax has passed since the latest infusion")],
        references=("Stein AM et al. CPT Pharmacometrics Syst Pharmacol 2019;8:285-295",),
    )

