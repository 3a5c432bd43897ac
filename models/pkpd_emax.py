"""Direct Emax model on a one-compartment IV drug: ``effect = e0 + emax·cp/(ec50 + cp)``.
Time unit: h."""

from cellpkpd.blocks import compose, emax_effect, linear_pk

model = compose("pkpd_emax", "h", [linear_pk(1), emax_effect()], linear=True,
                description="Direct hyperbolic Emax effect of the plasma concentration.")
