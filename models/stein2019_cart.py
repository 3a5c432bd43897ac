"""Multiphasic CAR-T cellular kinetics of tisagenlecleucel: Stein et al. 2019, CPT
Pharmacometrics Syst Pharmacol 8:285 (MODELS.md §4). Time unit: day.

Transgene (copies/µg) starts at ``cmax/foldx`` at the infusion, grows exponentially until
``tmax``, then declines biexponentially: a fast contraction at ``alpha`` and a persisting
memory fraction ``fb`` declining at ``beta``. The switch at ``tmax`` is an event of the solver.
Dose: one infusion is AMT = 1 into ``e`` (the model describes the transgene curve, not the cell
dose; Stein found no dose-exposure relation). Published figures: doubling time
ln2·tmax/ln(foldx) = 0.78 d, initial decline t½ ln2/alpha = 4.3 d, terminal t½ ln2/beta ≈ 220 d,
Cmax 24,000 copies/µg at 9.3 d.
"""

from cellpkpd import Param
from cellpkpd.blocks import assays, compose, multiphasic_expansion

STEIN = "Stein AM et al. CPT Pharmacometrics Syst Pharmacol 2019;8:285-295"
LIT = dict(tag="lit", source=STEIN)

model = compose(
    "stein2019_cart", "day",
    [multiphasic_expansion([
        Param("foldx", 3900.0, "1", "fold expansion from infusion to Cmax", **LIT),
        Param("tmax", 9.3, "day", "time of the peak", **LIT),
        Param("cmax", 24000.0, "copies/µg", "peak transgene", **LIT),
        Param("alpha", 0.16, "1/day", "contraction rate after the peak", **LIT),
        Param("fb", 0.0079, "1", "fraction of the peak that persists (memory)",
              bounds=(0, 1), **LIT),
        Param("beta", 0.0032, "1/day", "decline rate of the persisting fraction", **LIT),
    ])],
    outputs=[assays.qpcr("transgene", lambda t, s, p, c, d: s.e + s.m, "CAR transgene in "
                         "blood", lloq=5.0)],
    description=__doc__.split("\n\n")[1].replace("\n", " "),
    assumptions=("A new infusion restarts the expansion phase of the effector transgene.",),
)
