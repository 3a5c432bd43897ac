"""Published PK models of the drugs given with MSC-IFNα, converted to days.

Each dosing compartment declares a 30-minute default infusion (RATE = -2 uses it).
"""

from __future__ import annotations

from ..model import Param, State
from .core import Block

HALF_HOUR_DAYS = 1.0 / 48.0
_HALF_HOUR = lambda p, c, d: HALF_HOUR_DAYS  # noqa: E731

CHEN_2014 = "Chen N et al. Br J Clin Pharmacol 2014;78:1148-1157 (nab-paclitaxel)"
AHMED_2020 = "Ahmed et al. 2020, population PK of cyclophosphamide"
AHAMADI_2017 = "Ahamadi M et al. CPT Pharmacometrics Syst Pharmacol 2017;6:49-57 (pembrolizumab)"


def nab_paclitaxel() -> Block:
    """Three compartments (µg, L) with saturable distribution to peripheral 1 and saturable
    elimination (Chen 2014). ``c_pac_ugl`` is C1 in µg/L; ``c_pac`` is in mg/L."""
    lit = dict(tag="lit", source=CHEN_2014)
    params = [
        Param("v1_pac", 15.8, "L", "central volume", **lit),
        Param("v2_pac", 1650.0, "L", "peripheral volume 1 (saturable exchange)", **lit),
        Param("v3_pac", 75.4, "L", "peripheral volume 2 (linear exchange)", **lit),
        Param("vmtr_pac", 325000.0 * 24, "µg/day", "maximum transport rate, central <-> "
              "peripheral 1 (325,000 µg/h × 24)", **lit),
        Param("kmtr_pac", 4260.0, "µg/L", "concentration at half-maximal transport", **lit),
        Param("q2_pac", 41.6 * 24, "L/day", "linear inter-compartmental clearance to "
              "peripheral 2 (41.6 L/h × 24)", **lit),
        Param("vmel_pac", 8070.0 * 24, "µg/day", "maximum elimination rate at ALB 3.9 g/dL "
              "(8,070 µg/h × 24)", **lit),
        Param("kmel_pac", 40.2, "µg/L", "concentration at half-maximal elimination", **lit),
        Param("alb_vmel_pac", 0.554, "1", "exponent of (ALB/3.9) on the elimination capacity",
              positive=False, **lit),
    ]

    def rates(t, s, p, c, d):
        c1 = d.c_pac_ugl
        cp1 = s.pac_peripheral1 / p.v2_pac
        cp2 = s.pac_peripheral2 / p.v3_pac
        out_p1 = p.vmtr_pac * c1 / (p.kmtr_pac + c1)
        back_p1 = p.vmtr_pac * cp1 / (p.kmtr_pac + cp1)
        to_p2 = p.q2_pac * (c1 - cp2)
        vmel = p.vmel_pac * (c.ALB / 3.9) ** p.alb_vmel_pac
        return {
            "pac_central": -out_p1 + back_p1 - to_p2 - vmel * c1 / (p.kmel_pac + c1),
            "pac_peripheral1": out_p1 - back_p1,
            "pac_peripheral2": to_p2,
        }

    return Block(
        name="nab_paclitaxel",
        states=[State("pac_central", "µg", "nab-paclitaxel, central (dosing compartment)"),
                State("pac_peripheral1", "µg", "nab-paclitaxel, peripheral 1"),
                State("pac_peripheral2", "µg", "nab-paclitaxel, peripheral 2")],
        params=params, rates=rates,
        derived={"c_pac_ugl": lambda t, s, p, c, d: s.pac_central / p.v1_pac,
                 "c_pac": lambda t, s, p, c, d: d.c_pac_ugl / 1000.0},
        infusion_duration={"pac_central": _HALF_HOUR},
        references=(CHEN_2014,),
    )


def cyclophosphamide() -> Block:
    """One compartment (mg, L): CL 5.41 L/h, V 46.5·(BSA/1.58)^0.861 L (Ahmed 2020)."""
    lit = dict(tag="lit", source=AHMED_2020)
    params = [
        Param("cl_cyc", 5.41 * 24, "L/day", "clearance (5.41 L/h × 24)", **lit),
        Param("v_cyc", 46.5, "L", "volume at BSA 1.58 m²", **lit),
        Param("bsa_v_cyc", 0.861, "1", "exponent of (BSA/1.58) on volume", positive=False,
              **lit),
    ]
    volume = lambda p, c: p.v_cyc * (c.BSA / 1.58) ** p.bsa_v_cyc  # noqa: E731
    return Block(
        name="cyclophosphamide",
        states=[State("cyc_central", "mg", "cyclophosphamide (dosing compartment)")],
        params=params,
        rates=lambda t, s, p, c, d: {"cyc_central": -p.cl_cyc * d.c_cyc},
        derived={"c_cyc": lambda t, s, p, c, d: s.cyc_central / volume(p, c)},
        infusion_duration={"cyc_central": _HALF_HOUR},
        references=(AHMED_2020,),
    )


def pembrolizumab() -> Block:
    """Two compartments (mg, L) with allometric weight on both clearances, CL and Q, by
    ``(WT/76.8)^wt_cl_pd1`` and on both volumes, Vc and Vp, by ``(WT/76.8)^wt_vc_pd1``
    (Ahamadi 2017), and PD-1 receptor occupancy ``ro = c_pd1/(c_pd1 + ec50_ro)``."""
    lit = dict(tag="lit", source=AHAMADI_2017)
    params = [
        Param("cl_pd1", 0.22, "L/day", "clearance at 76.8 kg", **lit),
        Param("vc_pd1", 3.48, "L", "central volume at 76.8 kg", **lit),
        Param("q_pd1", 0.795, "L/day", "inter-compartmental clearance at 76.8 kg", **lit),
        Param("vp_pd1", 4.06, "L", "peripheral volume at 76.8 kg", **lit),
        Param("wt_cl_pd1", 0.595, "1", "exponent of (WT/76.8) on both clearances (CL, Q)",
              positive=False, **lit),
        Param("wt_vc_pd1", 0.489, "1", "exponent of (WT/76.8) on both volumes (Vc, Vp)",
              positive=False, **lit),
        Param("ec50_ro", 0.5, "µg/mL", "anti-PD-1 concentration at 50% receptor occupancy",
              tag="asm", source="assumption"),
    ]

    def rates(t, s, p, c, d):
        # one clearance factor for CL and Q, one volume factor for Vc and Vp (Ahamadi 2017)
        w_cl = (c.WT / 76.8) ** p.wt_cl_pd1
        w_v = (c.WT / 76.8) ** p.wt_vc_pd1
        c_peripheral = s.pd1_peripheral / (p.vp_pd1 * w_v)
        flux = p.q_pd1 * w_cl * (d.c_pd1 - c_peripheral)
        return {"pd1_central": -p.cl_pd1 * w_cl * d.c_pd1 - flux, "pd1_peripheral": flux}

    return Block(
        name="pembrolizumab",
        states=[State("pd1_central", "mg", "anti-PD-1, central (dosing compartment)"),
                State("pd1_peripheral", "mg", "anti-PD-1, peripheral")],
        params=params, rates=rates,
        derived={"c_pd1": lambda t, s, p, c, d: s.pd1_central
                 / (p.vc_pd1 * (c.WT / 76.8) ** p.wt_vc_pd1),
                 "ro": lambda t, s, p, c, d: d.c_pd1 / (d.c_pd1 + p.ec50_ro)},
        infusion_duration={"pd1_central": _HALF_HOUR},
        references=(AHAMADI_2017,),
    )
