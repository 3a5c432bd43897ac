"""NKG2D-CAR-NK cells in relapsed multiple myeloma (MODELS.md §2). Time unit: day.

The structure of Singh et al. 2021 (anti-BCMA CAR-T) with NK-specific values: the CAR binds
NKG2D ligands (MICA/B, ULBP1-6) at ``ag_tumor`` per myeloma cell, multiplied by the covariate
NKG2DL_POS (about 62% of patients express the ligands); expansion is lower, effector NK cells
are cleared fast, and a small persistent NK pool decays slowly (CD19 CAR-NK persisted at low
levels for at least 12 months; Liu 2020). CRS cytokines IL-6, IFN-γ and TNF-α are produced in
proportion to the kill rate (Hardiansyah & Ng 2019 form). Dose: CAR-NK cells into ``e_pb``
(flat, or cells/kg × WT through the regimen builder).
"""

from cellpkpd import Covariate, Output, Param, State
from cellpkpd.blocks import Block, assays, car_cell_kinetics, compose, myeloma, singh2021

ASM = dict(tag="asm", source="assumption")

# A full response: the maximal kill rate on the baseline tumor,
# kkill_max·tumor0·v_bm/1e9 = 0.343 × 2.5e9 × 3.65 / 1e9 = 3.130 (1e9 cells/day).
# Production p is set so that this rate holds each cytokine at 20× baseline:
# p = 19·base·kdeg / 3.130.
FULL_KILL = (singh2021.value("kkill_max") * singh2021.value("tumor0")
             * singh2021.value("v_bm") / 1e9)
CYTOKINES = {  # base [pg/mL], its tag, kdeg [1/day], its tag
    "il6": (2.0, ASM, 3.96, dict(tag="lit", source="Hardiansyah D, Ng CM. 2019")),
    "ifng": (5.0, ASM, 1.51, dict(tag="lit", source="Hardiansyah D, Ng CM. 2019")),
    "tnfa": (5.0, ASM, 10.0, ASM),
}
LABEL = {"il6": "IL-6", "ifng": "IFN-γ", "tnfa": "TNF-α"}

cells = car_cell_kinetics(
    {"e_pb": "e_pb", "m_pb": "m_pb", "e_bm": "e_bm", "m_bm": "m_bm"},
    singh2021.with_changes(singh2021.CELL_PARAMS, {
        "kexp_max": Param("kexp_max", 0.8, "1/day", "maximum expansion rate of effector CAR-NK "
                          "(lower than CAR-T)", **ASM),
        "kel_e": Param("kel_e", 20.0, "1/day", "elimination of effector CAR-NK from blood",
                       **ASM),
        "kel_m": Param("kel_m", 0.02, "1/day", "elimination of the persistent NK pool",
                       tag="asm", source="CD19 CAR-NK persisted ≥ 12 months (Liu 2020)"),
    }),
)
tumor = myeloma(singh2021.MYELOMA_PARAMS, sbcma=False)

ligand = Block(
    name="nkg2d_ligands",
    params=[Param("ag_tumor", 3000.0, "1/cell", "NKG2D ligands per myeloma cell", **ASM),
            *singh2021.BLOOD_PARAMS],
    covariates=[Covariate("NKG2DL_POS", 1.0, "0/1", "tumor expresses NKG2D ligands "
                          "(~62% of patients)")],
    derived={"ag_tumor": lambda t, s, p, c, d: p.ag_tumor * c.NKG2DL_POS},
)


def crs_cytokine(name: str) -> Block:
    base, base_tag, kdeg, kdeg_tag = CYTOKINES[name]
    p_value = 19.0 * base * kdeg / FULL_KILL
    return Block(
        name=f"crs_{name}",
        states=[State(name, "pg/mL", f"serum {LABEL[name]}")],
        params=[Param(f"base_{name}", base, "pg/mL", f"baseline serum {LABEL[name]}",
                      **base_tag),
                Param(f"kdeg_{name}", kdeg, "1/day", f"{LABEL[name]} elimination", **kdeg_tag),
                Param(f"p_{name}", p_value, "pg/mL per 1e9 cells killed",
                      f"{LABEL[name]} release per tumor cell killed",
                      tag="asm", source=f"scaled to 20× baseline at the maximal kill rate "
                      f"(19·{base:g}·{kdeg:g}/{FULL_KILL:.3f})")],
        rates=lambda t, s, p, c, d: {name: p[f"kdeg_{name}"] * (p[f"base_{name}"] - s[name])
                                     + p[f"p_{name}"] * d.kkill * s.tumor * p.v_bm / 1e9},
        initial=lambda p, c, d: {name: p[f"base_{name}"]},
    )


model = compose(
    "nkg2d_carnk_mm", "day",
    [cells, tumor, ligand, *(crs_cytokine(x) for x in ("il6", "ifng", "tnfa"))],
    outputs=[
        assays.qpcr("transgene", lambda t, s, p, c, d: p.transc * (s.e_pb + s.m_pb) / p.v_blood,
                    "CAR transgene in blood", lloq=5.0),
        Output("mprot", "g/L", lambda t, s, p, c, d: s.mprot, "serum M-protein"),
        Output("mprot_change", "%", lambda t, s, p, c, d: 100.0 * (s.mprot / d.mprot0 - 1.0),
               "change of M-protein from baseline"),
        assays.elisa("il6_serum", lambda t, s, p, c, d: s.il6, "serum IL-6", lloq=1.0),
        assays.elisa("ifng_serum", lambda t, s, p, c, d: s.ifng, "serum IFN-γ", lloq=1.0),
        assays.elisa("tnfa_serum", lambda t, s, p, c, d: s.tnfa, "serum TNF-α", lloq=1.0),
        Output("tumor", "cells/L", lambda t, s, p, c, d: s.tumor, "myeloma cells per litre of "
               "marrow"),
    ],
    description=__doc__.split("\n\n")[1].replace("\n", " "),
    default_solver="rodas4",
    references=("Liu E et al. N Engl J Med 2020;382:545-553",
                "Hardiansyah D, Ng CM. J Pharmacokinet Pharmacodyn 2019;46:33-52"),
    assumptions=(
        "Binding kinetics, CAR density, trafficking and kill parameters are Singh 2021's CAR-T "
        "values.",
        "Ligand-negative patients (NKG2DL_POS = 0) present no target.",
        "Cytokine release per killed cell is scaled to 20× baseline at maximal kill.",
    ),
)
