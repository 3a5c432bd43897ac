"""One compartment, intravenous dosing, linear elimination (nlmixr2 naming). Time unit: h."""

from cellpkpd.blocks import compose, linear_pk

model = compose(
    "pk_1cmt_iv", "h", [linear_pk(1)], linear=True,
    description="One compartment, intravenous dosing, linear elimination (nlmixr2 naming).",
)
