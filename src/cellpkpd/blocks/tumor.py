"""Tumor blocks: solid-tumor size (sum of longest diameters) and myeloma burden with its
serum biomarkers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp

from ..model import Param, State, Switch
from .core import Block


def safe_power(x, exponent):
    """``x**exponent`` for x > 0, 0 otherwise, with finite gradients at x <= 0."""
    positive = x > 0
    return jnp.where(positive, jnp.where(positive, x, 1.0) ** exponent, 0.0)


def sld_tumor(params: Sequence[Param], *, kill: Callable, treatment_compartments: Sequence[str],
              baseline: str = "SLD0") -> Block:
    """Tumor size as the sum of longest diameters (Claret et al. 2009), in mm::

        d sld = kg·sld - kill·exp(-lam·tafd)·sld,   sld(0) = SLD0

    ``kill`` is a block function (the sum of drug effects, per day). ``tafd`` is the time
    after the first dose into any of ``treatment_compartments`` (a clock state that starts
    when the switch ``treated`` turns on), so resistance develops from the start of
    treatment. ``v_tumor = (π/6)·(sld/10)³`` mL is the sphere of diameter SLD.
    """
    return Block(
        name="sld_tumor",
        states=[State("sld", "mm", "tumor size: sum of longest diameters"),
                State("tafd", "day", "time after the first dose of any drug")],
        params=params,
        rates=lambda t, s, p, c, d: {
            "sld": p.kg * s.sld - kill(t, s, p, c, d) * jnp.exp(-p.lam * s.tafd) * s.sld,
            "tafd": c.treated,
        },
        derived={"v_tumor": lambda t, s, p, c, d: jnp.pi / 6.0 * (s.sld / 10.0) ** 3},
        initial=lambda p, c, d: {"sld": c[baseline]},
        switches=[Switch("treated", tuple(treatment_compartments),
                         description="1 from the first dose of any drug on")],
        references=("Claret L et al. J Clin Oncol 2009;27:4103-4108",),
    )


def myeloma(params: Sequence[Param], *, sbcma: bool = True) -> Block:
    """Myeloma cells in marrow (cells/L), killed at the derived rate ``kkill``, with serum
    M-protein (g/L) and, optionally, soluble BCMA (ng/mL) secreted in proportion to a power of
    the burden (Singh et al. 2021)::

        d tumor = kg·tumor - kkill·tumor
        d mprot = pm·1e-12·tumor0·(tumor/tumor0)^gam_m - km·mprot
        d sbcma = pb·1e-6·tumor0·(tumor/tumor0)^gam_b - kb·sbcma

    The biomarkers start at their steady states.
    """
    def rates(t, s, p, c, d):
        ratio = s.tumor / p.tumor0
        out = {
            "tumor": p.kg * s.tumor - d.kkill * s.tumor,
            "mprot": p.pm * 1e-12 * p.tumor0 * safe_power(ratio, p.gam_m) - p.km * s.mprot,
        }
        if sbcma:
            out["sbcma"] = p.pb * 1e-6 * p.tumor0 * safe_power(ratio, p.gam_b) - p.kb * s.sbcma
        return out

    def initial(p, c, d):
        out = {"tumor": p.tumor0, "mprot": d.mprot0}
        if sbcma:
            out["sbcma"] = p.pb * 1e-6 * p.tumor0 / p.kb
        return out

    states = [State("tumor", "cells/L", "myeloma cells per litre of marrow"),
              State("mprot", "g/L", "serum M-protein")]
    if sbcma:
        states.append(State("sbcma", "ng/mL", "serum soluble BCMA"))
    return Block(
        name="myeloma", states=states, params=params, rates=rates, initial=initial,
        derived={"mprot0": lambda t, s, p, c, d: p.pm * 1e-12 * p.tumor0 / p.km},
        references=("Singh AP et al. CPT Pharmacometrics Syst Pharmacol 2021;10:362-376",),
    )
