"""Three compartments, intravenous dosing, linear elimination from central. Time unit: h."""

from cellpkpd.blocks import compose, linear_pk

model = compose(
    "pk_3cmt_iv", "h", [linear_pk(3)], linear=True,
    description="Three compartments, intravenous dosing, linear elimination from central.",
)
