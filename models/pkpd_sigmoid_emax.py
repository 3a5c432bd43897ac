"""Direct sigmoid Emax (Hill) model on a one-compartment IV drug:
``effect = e0 + emax·cp^γ/(ec50^γ + cp^γ)``. Time unit: h."""

from cellpkpd.blocks import compose, emax_effect, linear_pk

model = compose("pkpd_sigmoid_emax", "h", [linear_pk(1), emax_effect(sigmoid=True)],
                linear=True,
                description="Direct sigmoid Emax effect of the plasma concentration.")
