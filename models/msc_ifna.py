"""IFN-α-secreting umbilical-cord MSCs, alone or with nab-paclitaxel, cyclophosphamide and
anti-PD-1 (MODELS.md §1). Time unit: day.

Infused MSCs are trapped in the lungs, redistribute to liver/spleen and home to the tumor in
proportion to its size; every living cell secretes IFN-α. Systemic IFN-α drives serum
cytokines (indirect response III), transient lymphocyte margination and effector-cell
proliferation; chemotherapy kills effector cells and (paclitaxel) neutrophil precursors
(Friberg/Chen 2014); anti-PD-1 occupancy boosts IL-2 and T cells. The tumor (sum of longest
diameters, Claret 2009) shrinks under local IFN-α, PD-1-dependent CD8 killing and paclitaxel,
with resistance developing from the first dose of any drug.

Dosing compartments: ``msc_blood`` (cells; a cells/kg dose is multiplied by WT by the regimen
builder), ``pac_central`` (µg), ``cyc_central`` (mg), ``pd1_central`` (mg); each declares a
30-minute infusion for RATE = -2.
"""

from dataclasses import replace

import jax.numpy as jnp

from cellpkpd import Covariate, Output, Param, bsa
from cellpkpd.blocks import (
    Block,
    assays,
    compose,
    cyclophosphamide,
    effector_pool,
    friberg,
    hyperbolic,
    ifn_secretion,
    msc_distribution,
    nab_paclitaxel,
    pembrolizumab,
    sld_tumor,
    turnover,
)  # fmt: skip
from cellpkpd.model import covariate_or

ASM = dict(tag="asm", source="assumption")
CHEN = "Chen N et al. Br J Clin Pharmacol 2014;78:1148-1157"
CLARET = "Claret L et al. J Clin Oncol 2009;27:4103-4108"


def lit(source):
    return dict(tag="lit", source=source)


def der(source):
    return dict(tag="der", source=source)


covariates = [
    Covariate("WT", 70.0, "kg", "body weight"),
    Covariate("HT", 170.0, "cm", "height (only used to derive BSA)"),
    Covariate("BSA", 1.818, "m²", "body surface area; Mosteller from WT and HT when absent",
              derive=lambda cols: bsa(cols["WT"], cols["HT"])),
    Covariate("SLD0", 80.0, "mm", "baseline sum of longest diameters"),
    Covariate("WBC", 6000.0, "cells/µL", "white blood cell count (qPCR denominator)"),
    Covariate("ALB", 3.9, "g/dL", "serum albumin (paclitaxel elimination)"),
    Covariate("AGE", 50.0, "years", "age (paclitaxel neutropenia slope ×1.501 at ≥ 65)"),
    Covariate("MONO0", float("nan"), "cells/µL", "baseline monocytes; parameter mono0 if absent"),
    Covariate("CD40", float("nan"), "cells/µL", "baseline CD4; parameter cd40 if absent"),
    Covariate("CD80", float("nan"), "cells/µL", "baseline CD8; parameter cd80 if absent"),
    Covariate("NK0", float("nan"), "cells/µL", "baseline NK cells; parameter nk0 if absent"),
    Covariate("ANC0", float("nan"), "10^9/L", "baseline ANC; parameter anc0 if absent"),
]

# -- 1a. MSC distribution ------------------------------------------------------------------
distribution = msc_distribution([
    Param("k_bl", 20.0, "1/day", "blood -> lung trapping", tag="asm",
          source="most cells are in the lungs within minutes of IV infusion (27-33% of "
                 "¹¹¹In activity in lungs right after infusion; Gholamrezanezhad 2011)"),
    Param("k_bs", 4.0, "1/day", "blood -> liver/spleen", **ASM),
    Param("k_bt", 0.4, "1/day", "blood -> tumor at baseline tumor size (~2% of cells reach "
          "the tumor)", **ASM),
    Param("k_lb", 0.15, "1/day", "lung -> blood release", **ASM),
    Param("k_dl", 0.35, "1/day", "death of cells in the lungs",
          **der("lung activity falls from ~30% to 2-5% by day 10: net loss 0.2-0.5/day")),
    Param("k_ds", 0.1, "1/day", "death in liver/spleen (activity still rises at day 10)",
          **ASM),
    Param("k_dt", 0.1, "1/day", "death in the tumor", **ASM),
])

# -- 1b. IFN-α secretion ------------------------------------------------------------------
secretion = ifn_secretion([
    Param("s_ifn", 0.02, "pg/cell/day", "IFN-α secretion per living MSC",
          **der("plateau ~10 pg/mL after 2e6 cells/kg: R = CL·Css = 280 L/day × 10 pg/mL")),
    Param("cl_ifn", 4.0, "L/day/kg", "IFN-α clearance per kg",
          **lit("IFN-α2a IV CL 2.79 mL/min/kg (Roferon-A label)")),
    Param("v_ifn", 0.4, "L/kg", "IFN-α volume per kg", **lit("Vss 0.4 L/kg (Roferon-A label)")),
    Param("k_loc", 10.0, "1/day", "local clearance of IFN-α in the tumor", **ASM),
])

# -- 1c. Cytokines: indirect response III on systemic IFN-α --------------------------------
KOUT_CYTOKINE = {
    "ifnb": (3.9, lit("IFN-β IV t½ 4.3 h (Chiang 1993)")),
    "il6": (3.96, lit("Hardiansyah & Ng 2019")),
    "tnfa": (10.0, ASM),
    "il2": (10.0, ASM),
}
BASE = {"ifnb": 1.0, "il6": 2.0, "tnfa": 5.0, "il2": 1.0}
EMAX = {"ifnb": 3.0, "il6": 10.0, "tnfa": 3.0, "il2": 1.0}
LABEL = {"ifnb": "IFN-β", "il6": "IL-6", "tnfa": "TNF-α", "il2": "IL-2"}


def cytokine(name: str) -> Block:
    kout, tag = KOUT_CYTOKINE[name]

    def production(t, s, p, c, d):
        effect = hyperbolic(d.c_ifna, p[f"emax_{name}"], p[f"ec50_{name}"])
        if name == "il2":
            effect = effect + p.emax_il2_pd1 * d.ro
        return effect

    block = turnover(
        name, "pg/mL", kout=Param(f"kout_{name}", kout, "1/day", f"{LABEL[name]} turnover",
                                  **tag),
        baseline=Param(f"base_{name}", BASE[name], "pg/mL", f"baseline serum {LABEL[name]} "
                       "(typical healthy level)", **ASM),
        production=production, description=f"serum {LABEL[name]}",
    )
    extra = [Param(f"emax_{name}", EMAX[name], "1", f"maximum IFN-α stimulation of "
                   f"{LABEL[name]} production", **ASM),
             Param(f"ec50_{name}", 10.0, "pg/mL", f"IFN-α at half-maximal {LABEL[name]} "
                   "stimulation", **ASM)]
    if name == "il2":
        extra.append(Param("emax_il2_pd1", 1.0, "1", "stimulation of IL-2 production at full "
                           "PD-1 occupancy", **ASM))
    return replace(block, params=tuple(block.params) + tuple(extra))


# -- 1d. Effector cells in blood -------------------------------------------------------------
EFFECTOR = {  # kout, its tag, baseline, slope_cyc, slope_pac
    "mono": (1.0, lit("classical monocytes spend ~1 day in blood (Patel 2017)"), 400.0, 0.2, 1.0),
    "cd4": (0.1, ASM, 700.0, 1.5, 0.5),
    "cd8": (0.1, ASM, 400.0, 1.5, 0.5),
    "nk": (0.07, lit("NK disappearance 6.9%/day (Zhang 2007)"), 200.0, 1.5, 0.5),
}
BASELINE_NAME = {"mono": "mono0", "cd4": "cd40", "cd8": "cd80", "nk": "nk0"}
COVARIATE_NAME = {"mono": "MONO0", "cd4": "CD40", "cd8": "CD80", "nk": "NK0"}
CELL_LABEL = {"mono": "monocytes", "cd4": "CD4 T cells", "cd8": "CD8 T cells", "nk": "NK cells"}


def effector(name: str) -> Block:
    kout, kout_tag, base, slope_cyc, slope_pac = EFFECTOR[name]

    def proliferation(t, s, p, c, d):
        if name == "cd4":
            return p.emax_pd1_cd4 * d.ro
        effect = hyperbolic(d.c_ifna, p[f"emax_prol_{name}"], p.ec50_prol)
        return effect + p.emax_pd1_cd8 * d.ro if name == "cd8" else effect

    def loss(t, s, p, c, d):
        emax = p.emax_marg_mono if name == "mono" else p.emax_marg
        margination = hyperbolic(d.c_ifna, emax, p.ec50_marg)
        kill = p[f"slope_cyc_{name}"] * d.c_cyc + p[f"slope_pac_{name}"] * d.c_pac
        return margination + kill

    block = effector_pool(
        name, kout=Param(f"kout_{name}", kout, "1/day", f"blood turnover of {CELL_LABEL[name]}"
                         " (incl. redistribution)", **kout_tag),
        baseline=f"{name}_baseline", proliferation=proliferation, loss=loss,
        description=f"{CELL_LABEL[name]} in blood",
    )
    params = [
        Param(BASELINE_NAME[name], base, "cells/µL", f"typical baseline {CELL_LABEL[name]} "
              f"(covariate {COVARIATE_NAME[name]} overrides)", **ASM),
        Param(f"slope_cyc_{name}", slope_cyc, "L/mg", f"cyclophosphamide kill of "
              f"{CELL_LABEL[name]}", **(der("~40% lymphocyte nadir after 200 mg/m²")
                                        if name != "mono" else ASM)),
        Param(f"slope_pac_{name}", slope_pac, "L/mg", f"paclitaxel kill of {CELL_LABEL[name]}",
              **ASM),
    ]
    covariate = COVARIATE_NAME[name]
    return replace(block, params=tuple(block.params) + tuple(params), derived={
        f"{name}_baseline": lambda t, s, p, c, d: covariate_or(c[covariate],
                                                               p[BASELINE_NAME[name]])})


effector_shared = Block(
    name="effector_shared",
    params=[
        Param("emax_marg", 1.0, "1", "maximum IFN-α-induced margination of lymphocytes "
              "(transient lymphopenia)", **ASM),
        Param("emax_marg_mono", 0.5, "1", "maximum IFN-α-induced margination of monocytes",
              **ASM),
        Param("ec50_marg", 5.0, "pg/mL", "IFN-α at half-maximal margination", **ASM),
        Param("emax_prol_mono", 0.5, "1", "maximum IFN-α-driven monocyte production", **ASM),
        Param("emax_prol_nk", 1.0, "1", "maximum IFN-α-driven NK production", **ASM),
        Param("emax_prol_cd8", 0.3, "1", "maximum IFN-α-driven CD8 production", **ASM),
        Param("ec50_prol", 10.0, "pg/mL", "IFN-α at half-maximal proliferation", **ASM),
        Param("emax_pd1_cd8", 0.5, "1", "CD8 production boost at full PD-1 occupancy", **ASM),
        Param("emax_pd1_cd4", 0.2, "1", "CD4 production boost at full PD-1 occupancy", **ASM),
        Param("other_lymph", 300.0, "cells/µL", "lymphocytes other than CD4, CD8 and NK "
              "(B cells...), denominator of the proportions", **ASM),
    ],
)

# -- 1e. Neutrophils (Friberg structure, Chen 2014 parameters) --------------------------------
neutrophils = friberg(
    driver="c_pac_anc", prefix="anc_", circ="anc", baseline="anc_baseline",
    mtt=Param("mtt_anc", 117.0 / 24, "day", "mean transit time (117 h)", **lit(CHEN)),
    slope=Param("slope_anc", 0.00253, "L/µg", "paclitaxel effect on proliferation per µg/L",
                **lit(CHEN)),
    gamma=Param("gamma_anc", 0.187, "1", "feedback exponent", **lit(CHEN)),
)
neutrophil_inputs = Block(
    name="neutrophil_inputs",
    params=[Param("anc0", 4.28, "10^9/L", "typical baseline ANC (covariate ANC0 overrides)",
                  **lit(CHEN)),
            Param("age_slope_anc", 1.501, "1", "factor on the neutropenia slope at AGE ≥ 65",
                  **lit(CHEN))],
    derived={
        "anc_baseline": lambda t, s, p, c, d: covariate_or(c.ANC0, p.anc0),
        "c_pac_anc": lambda t, s, p, c, d: d.c_pac_ugl * jnp.where(c.AGE >= 65,
                                                                   p.age_slope_anc, 1.0),
    },
)


# -- 1f. Tumor ---------------------------------------------------------------------------------
def tumor_kill(t, s, p, c, d):
    local_ifn = hyperbolic(d.c_ifna_tumor, p.k_ifn_t, p.ec50_ifn_t)
    return local_ifn + p.k_pd1 * d.ro * (s.cd8 / d.cd8_baseline) + p.k_pac * d.c_pac


tumor = sld_tumor(
    [Param("kg", 0.002, "1/day", "tumor growth rate", **lit(f"{CLARET}: KL 0.015/week")),
     Param("lam", 0.006, "1/day", "decline of drug effect (resistance)",
           **lit(f"{CLARET}: λ 0.042/week")),
     Param("k_ifn_t", 0.01, "1/day", "maximum kill by intratumoral IFN-α", **ASM),
     Param("ec50_ifn_t", 10.0, "pg/mL", "intratumoral IFN-α at half-maximal kill", **ASM),
     Param("k_pd1", 0.004, "1/day", "kill at full PD-1 occupancy and baseline CD8", **ASM),
     Param("k_pac", 0.15, "L/mg/day", "paclitaxel kill per mg/L", **ASM)],
    kill=tumor_kill,
    treatment_compartments=("msc_blood", "pac_central", "cyc_central", "pd1_central"),
)

# -- 1g. Observation models ----------------------------------------------------------------------
observation = Block(
    name="observation",
    params=[Param("vcn", 2.0, "copies/cell", "transgene copies per MSC", **ASM),
            Param("tumor_cells_per_ml", 1e8, "cells/mL", "tumor cell density", **ASM)],
)


def lymph(s, p):
    return s.cd4 + s.cd8 + s.nk + p.other_lymph


outputs = [
    assays.qpcr("qpcr_blood", lambda t, s, p, c, d: assays.copies_per_ug_in_blood(
        s.msc_blood, c.WT, c.WBC, p.vcn), "MSC transgene in blood"),
    assays.qpcr("qpcr_tumor", lambda t, s, p, c, d: p.vcn * assays.CELLS_PER_UG_GDNA
                * s.msc_tumor / (d.v_tumor * p.tumor_cells_per_ml), "MSC transgene in tumor "
                "biopsy"),
    assays.elisa("ifna_serum", lambda t, s, p, c, d: d.c_ifna, "serum IFN-α", lloq=2.0),
    assays.elisa("ifnb_serum", lambda t, s, p, c, d: s.ifnb, "serum IFN-β", lloq=1.0),
    assays.elisa("il2_serum", lambda t, s, p, c, d: s.il2, "serum IL-2", lloq=0.5),
    assays.elisa("il6_serum", lambda t, s, p, c, d: s.il6, "serum IL-6", lloq=1.0),
    assays.elisa("tnfa_serum", lambda t, s, p, c, d: s.tnfa, "serum TNF-α", lloq=1.0),
    *[assays.flow_count(x, lambda t, s, p, c, d, x=x: s[x], CELL_LABEL[x])
      for x in ("mono", "cd4", "cd8", "nk")],
    *[assays.flow_percent(f"{x}_pct", lambda t, s, p, c, d, x=x: 100.0 * s[x] / lymph(s, p),
                          f"{CELL_LABEL[x]}, % of lymphocytes") for x in ("cd4", "cd8", "nk")],
    assays.flow_percent("mono_pct", lambda t, s, p, c, d: 100.0 * s.mono / c.WBC,
                        "monocytes, % of white blood cells"),
    Output("anc", "10^9/L", lambda t, s, p, c, d: s.anc, "absolute neutrophil count",
           error=assays.FLOW_ERROR),
    assays.sld(lambda t, s, p, c, d: s.sld),
    Output("c_pac", "mg/L", lambda t, s, p, c, d: d.c_pac, "plasma paclitaxel"),
    Output("c_cyc", "mg/L", lambda t, s, p, c, d: d.c_cyc, "plasma cyclophosphamide"),
    Output("c_pd1", "µg/mL", lambda t, s, p, c, d: d.c_pd1, "serum anti-PD-1"),
    Output("ro", "1", lambda t, s, p, c, d: d.ro, "PD-1 receptor occupancy"),
    Output("ifna_tumor", "pg/mL", lambda t, s, p, c, d: d.c_ifna_tumor, "intratumoral IFN-α"),
]

model = compose(
    "msc_ifna", "day",
    [distribution, secretion, *(cytokine(x) for x in ("ifnb", "il6", "tnfa", "il2")),
     *(effector(x) for x in ("mono", "cd4", "cd8", "nk")), effector_shared,
     nab_paclitaxel(), neutrophils, neutrophil_inputs, cyclophosphamide(), pembrolizumab(),
     tumor, observation,
     Block(name="covariates", covariates=covariates)],
    outputs=outputs,
    description=__doc__.split("\n\n")[1].replace("\n", " "),
    default_solver="rodas4",
    assumptions=(
        "Parameters tagged [asm] have no direct source; give them wide priors.",
        "Tumor homing of MSCs scales linearly with tumor size relative to SLD0.",
        "All living MSCs secrete IFN-α at the same rate, wherever they are.",
        "Chemotherapy kills effector cells linearly in plasma concentration.",
        "The tumor is a sphere of diameter SLD for intratumoral IFN-α and qPCR.",
        "Resistance (exp(-lam·t)) starts at the first dose of any drug.",
    ),
)
