"""Anti-BCMA CAR-T cells (idecabtagene vicleucel) in multiple myeloma: Singh et al. 2021,
CPT Pharmacometrics Syst Pharmacol 10:362 (MODELS.md §3). Time unit: day.

Effector and memory CAR-T cells distribute between blood and bone marrow; in marrow,
effectors bind BCMA on myeloma cells (explicit kon/koff binding, per litre of marrow), expand
in proportion to bound CAR per cell and convert to memory cells. Tumor kill depends on bound
CAR per tumor cell; serum M-protein and soluble BCMA follow the tumor burden. All parameters
are the published estimates [lit]. The binding step makes the system stiff; the default solver
is implicit. Dose: CAR-T cells into ``carte_pb``.
"""

from cellpkpd import Output, Param
from cellpkpd.blocks import Block, assays, car_cell_kinetics, compose, myeloma

SINGH = "Singh AP et al. CPT Pharmacometrics Syst Pharmacol 2021;10:362-376"
LIT = dict(tag="lit", source=SINGH)

cells = car_cell_kinetics(
    {"e_pb": "carte_pb", "m_pb": "cartm_pb", "e_bm": "carte_t", "m_bm": "cartm_t"},
    [Param("kexp_max", 1.73, "1/day", "maximum expansion rate of effector CAR-T", **LIT),
     Param("ec50_exp", 10.0, "complexes/cell", "bound CAR per CAR-T cell at half-maximal "
           "expansion", **LIT),
     Param("rm", 2e-5, "1/day", "effector -> memory conversion", **LIT),
     Param("kkill_max", 0.343, "1/day", "maximum tumor kill rate", **LIT),
     Param("kc50_kill", 2.24, "complexes/cell", "bound CAR per tumor cell at half-maximal "
           "kill", **LIT),
     Param("kel_e", 113.0, "1/day", "elimination of effector CAR-T from blood", **LIT),
     Param("kel_m", 0.219, "1/day", "elimination of memory CAR-T from blood", **LIT),
     Param("k12", 1.71, "1/day", "blood -> marrow", **LIT),
     Param("k21", 0.176, "1/day", "marrow -> blood", **LIT),
     Param("kon", 7.103e4, "1/M/s", "CAR–BCMA association rate", **LIT),
     Param("koff", 2.385e-3, "1/s", "CAR–BCMA dissociation rate", **LIT),
     Param("ag_car", 15000.0, "1/cell", "CAR molecules per CAR-T cell", **LIT),
     Param("v_bm", 3.65, "L", "bone-marrow volume", **LIT)],
)

tumor = myeloma(
    [Param("kg", 0.008, "1/day", "myeloma growth rate", **LIT),
     Param("tumor0", 2.5e9, "cells/L", "baseline myeloma cells per litre of marrow", **LIT),
     Param("pm", 12.1, "pg/cell/day", "M-protein secretion per myeloma cell", **LIT),
     Param("km", 0.117, "1/day", "M-protein elimination", **LIT),
     Param("gam_m", 0.215, "1", "exponent of relative burden on M-protein secretion", **LIT),
     Param("pb", 0.175, "ng/mL/day per 1e6 cells/L", "sBCMA secretion", **LIT),
     Param("kb", 0.7, "1/day", "sBCMA elimination", **LIT),
     Param("gam_b", 1.0, "1", "exponent of relative burden on sBCMA secretion", **LIT)],
)

antigen = Block(
    name="bcma",
    params=[Param("ag_tumor", 12590.0, "1/cell", "BCMA molecules per myeloma cell", **LIT),
            Param("transc", 0.002, "copies/µg per cell/L", "transgene copies/µg per CAR-T "
                  "cell per litre of blood", **LIT),
            Param("v_blood", 5.0, "L", "blood volume", **LIT)],
    derived={"ag_tumor": lambda t, s, p, c, d: p.ag_tumor},
)

model = compose(
    "singh2021_idecel", "day", [cells, tumor, antigen],
    outputs=[
        assays.qpcr("transgene", lambda t, s, p, c, d: p.transc * (s.carte_pb + s.cartm_pb)
                    / p.v_blood, "CAR transgene in blood", lloq=5.0),
        Output("mprot", "g/L", lambda t, s, p, c, d: s.mprot, "serum M-protein"),
        Output("mprot_change", "%", lambda t, s, p, c, d: 100.0 * (s.mprot / d.mprot0 - 1.0),
               "change of M-protein from baseline"),
        Output("sbcma", "ng/mL", lambda t, s, p, c, d: s.sbcma, "serum soluble BCMA"),
        Output("tumor", "cells/L", lambda t, s, p, c, d: s.tumor, "myeloma cells per litre of "
               "marrow"),
    ],
    description=__doc__.split("\n\n")[1].replace("\n", " "),
    default_solver="kvaerno5",
    assumptions=("M-protein and sBCMA start at steady state.",),
)
