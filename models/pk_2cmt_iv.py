"""Two compartments, intravenous dosing, linear elimination from central. Time unit: h."""

from cellpkpd.blocks import compose, linear_pk

model = compose(
    "pk_2cmt_iv", "h", [linear_pk(2)], linear=True,
    description="Two compartments, intravenous dosing, linear elimination from central.",
)
