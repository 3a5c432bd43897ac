"""Target-mediated drug disposition, quasi-steady-state approximation (Gibiansky 2008), one
compartment, intravenous dosing in nmol. ``cp`` is the free drug. Time unit: h."""

from cellpkpd.blocks import compose, linear_pk, tmdd_qss

model = compose(
    "pk_tmdd_qss", "h",
    [linear_pk(1, elimination=False, concentration=False, amount_unit="nmol"), tmdd_qss()],
    description="One-compartment TMDD with the quasi-steady-state approximation.",
    assumptions=("Binding is at quasi-steady state: kss = (koff + kint)/kon.",),
)
