"""Drug PK blocks: linear compartments, Michaelis–Menten elimination, transit absorption,
target-mediated disposition (QSS). Parameter names follow nlmixr2."""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from ..errors import ModelError
from ..model import Output, Param, State
from .core import Block


def _param(name, value, unit, description, **kw) -> Param:
    """A generic block's parameter: its default is illustrative, to be estimated from data."""
    return Param(name, value, unit, description,
                 **{"tag": "asm", "source": "illustrative default; estimate from data", **kw})


def linear_pk(n_compartments: int = 1, *, oral: bool = False, time_unit: str = "h",
              amount_unit: str = "mg", elimination: bool = True,
              concentration: bool = True) -> Block:
    """1-3 compartment linear PK with optional first-order absorption.

    States ``depot`` (oral only), ``central``, ``peripheral``, ``peripheral2``; parameters
    ``cl``, ``v`` (1 compartment) or ``v1``, ``q``, ``v2``, ``q3``, ``v3``, and ``ka``; output
    ``cp = central / v``. ``elimination=False`` leaves elimination to another block (e.g.
    `michaelis_menten`).
    """
    if n_compartments not in (1, 2, 3):
        raise ModelError(f"linear_pk(n_compartments=) must be 1, 2 or 3, got "
                         f"{n_compartments!r}; chain blocks for more compartments")
    tu, au = time_unit, amount_unit
    v_name = "v" if n_compartments == 1 else "v1"
    states = []
    if oral:
        states.append(State("depot", au, "absorption depot"))
    states.append(State("central", au, "central compartment"))
    if n_compartments >= 2:
        states.append(State("peripheral", au, "peripheral compartment"
                            + (" 1" if n_compartments == 3 else "")))
    if n_compartments == 3:
        states.append(State("peripheral2", au, "peripheral compartment 2"))
    for i, st in enumerate(states):
        states[i] = State(st.name, st.unit, f"{st.description} (CMT {i + 1})")

    params = []
    if elimination:
        params.append(_param("cl", 1.0, f"L/{tu}", "clearance"))
    params.append(_param(v_name, 20.0, "L", "volume of distribution" if n_compartments == 1
                        else "central volume"))
    if n_compartments >= 2:
        params += [_param("q", 2.0, f"L/{tu}", "inter-compartmental clearance"
                         + (" to peripheral 1" if n_compartments == 3 else "")),
                   _param("v2", 50.0, "L", "peripheral volume"
                         + (" 1" if n_compartments == 3 else ""))]
    if n_compartments == 3:
        params += [_param("q3", 0.5, f"L/{tu}", "inter-compartmental clearance to peripheral 2"),
                   _param("v3", 100.0, "L", "peripheral volume 2")]
    if oral:
        params.append(_param("ka", 1.0, f"1/{tu}", "first-order absorption rate constant"))

    def rates(t, s, p, c, d):
        v1 = p[v_name]
        central = 0.0
        out = {}
        if oral:
            out["depot"] = -p.ka * s.depot
            central = central + p.ka * s.depot
        if elimination:
            central = central - p.cl / v1 * s.central
        if n_compartments >= 2:
            flux = p.q / v1 * s.central - p.q / p.v2 * s.peripheral
            out["peripheral"] = flux
            central = central - flux
        if n_compartments == 3:
            flux3 = p.q3 / v1 * s.central - p.q3 / p.v3 * s.peripheral2
            out["peripheral2"] = flux3
            central = central - flux3
        out["central"] = central
        return out

    return Block(
        name="linear_pk", states=states, params=params, rates=rates,
        derived={"cp": lambda t, s, p, c, d: s.central / p[v_name]} if concentration else {},
        outputs=[Output("cp", f"{au}/L", lambda t, s, p, c, d: d.cp, "plasma concentration")]
        if concentration else [],
    )


def michaelis_menten(*, time_unit: str = "h", amount_unit: str = "mg") -> Block:
    """Saturable elimination from ``central``: ``vmax·cp/(km + cp)``."""
    return Block(
        name="michaelis_menten",
        params=[_param("vmax", 10.0, f"{amount_unit}/{time_unit}", "maximum elimination rate"),
                _param("km", 1.0, f"{amount_unit}/L", "concentration at half-maximal "
                      "elimination")],
        rates=lambda t, s, p, c, d: {"central": -p.vmax * d.cp / (p.km + d.cp)},
    )


def transit_absorption(n_transit: int = 3, *, time_unit: str = "h",
                       amount_unit: str = "mg") -> Block:
    """Delayed absorption through a chain of transit compartments (Savic 2007).

    A dose into ``depot`` passes ``transit1`` ... ``transit{n}`` at ``ktr = (n + 1)/mtt`` and
    enters ``central`` from the last one at ``ka``.
    """
    if isinstance(n_transit, bool) or not isinstance(n_transit, numbers.Integral) or n_transit < 1:
        raise ModelError(f"transit_absorption(n_transit=) must be a whole number >= 1, got "
                         f"{n_transit!r}; give the number of transit compartments")
    names = ["depot"] + [f"transit{i}" for i in range(1, n_transit + 1)]

    def rates(t, s, p, c, d):
        ktr = (n_transit + 1) / p.mtt
        out = {"depot": -ktr * s.depot}
        for prev, name in zip(names[:-1], names[1:], strict=True):
            out[name] = ktr * s[prev] - (p.ka if name == names[-1] else ktr) * s[name]
        out["central"] = p.ka * s[names[-1]]
        return out

    return Block(
        name="transit_absorption",
        states=[State(n, amount_unit, "dose depot" if n == "depot" else "transit compartment")
                for n in names],
        params=[_param("mtt", 2.0, time_unit, f"mean transit time through the depot and "
                      f"{n_transit} transit compartments"),
                _param("ka", 1.0, f"1/{time_unit}", "absorption rate constant from the last "
                      "transit compartment")],
        rates=rates,
    )


def tmdd_qss(*, time_unit: str = "h") -> Block:
    """Target-mediated drug disposition, quasi-steady-state approximation (Gibiansky 2008).

    Central holds the *total* drug (free + bound) in nmol; ``rtot`` the total target
    concentration. Free drug ``cp = ½[(ctot − rtot − kss) + √((ctot − rtot − kss)² + 4·kss·ctot)]``.
    Needs a block that owns ``central`` with volume ``v`` and clearance ``cl`` of free drug
    (``linear_pk(1, elimination=False)``): linear elimination here acts on the free drug.
    """
    tu = time_unit

    def free(t, s, p, c, d):
        ctot = s.central / p.v
        b = ctot - s.rtot - p.kss
        return 0.5 * (b + jnp.sqrt(b * b + 4.0 * p.kss * ctot))

    def rates(t, s, p, c, d):
        bound = d.ctot - d.cfree
        return {
            "central": -(p.cl * d.cfree + p.kint * bound * p.v),
            "rtot": p.kdeg * p.r0 - p.kdeg * s.rtot - (p.kint - p.kdeg) * bound,
        }

    return Block(
        name="tmdd_qss",
        states=[State("rtot", "nmol/L", "total target (free + bound)")],
        params=[_param("cl", 0.2, f"L/{tu}", "linear clearance of free drug"),
                _param("kint", 0.05, f"1/{tu}", "internalisation rate of the complex"),
                _param("kdeg", 0.1, f"1/{tu}", "degradation rate of free target"),
                _param("r0", 5.0, "nmol/L", "baseline target concentration"),
                _param("kss", 1.0, "nmol/L", "quasi-steady-state constant (koff + kint)/kon")],
        derived={"ctot": lambda t, s, p, c, d: s.central / p.v, "cfree": free,
                 "cp": lambda t, s, p, c, d: d.cfree},
        rates=rates,
        initial=lambda p, c, d: {"rtot": p.r0},
        outputs=[Output("cp", "nmol/L", lambda t, s, p, c, d: d.cfree, "free drug"),
                 Output("ctot", "nmol/L", lambda t, s, p, c, d: d.ctot, "total drug"),
                 Output("rtot", "nmol/L", lambda t, s, p, c, d: s.rtot, "total target"),
                 Output("complex", "nmol/L", lambda t, s, p, c, d: d.ctot - d.cfree,
                        "drug-target complex")],
        references=("Gibiansky L et al. J Pharmacokinet Pharmacodyn 2008;35:573-591",),
    )
