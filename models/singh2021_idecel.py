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
from cellpkpd.blocks import Block, assays, car_cell_kinetics, compose, myeloma, singh2021

cells = car_cell_kinetics(
    {"e_pb": "carte_pb", "m_pb": "cartm_pb", "e_bm": "carte_t", "m_bm": "cartm_t"},
    singh2021.CELL_PARAMS,
)
tumor = myeloma(singh2021.MYELOMA_PARAMS + singh2021.SBCMA_PARAMS)
LIT = dict(tag="lit", source=singh2021.SINGH_2021)

antigen = Block(
    name="bcma",
    params=[Param("ag_tumor", 12590.0, "1/cell", "BCMA molecules per myeloma cell", **LIT),
            *singh2021.BLOOD_PARAMS],
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
    default_solver="rodas4",
    assumptions=("M-protein and sBCMA start at steady state.",),
)
