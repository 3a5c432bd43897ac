"""Two compartments, first-order absorption, linear elimination from central. Time unit: h."""

from cellpkpd.blocks import compose, linear_pk

model = compose(
    "pk_2cmt_oral", "h", [linear_pk(2, oral=True)], linear=True,
    description="Two compartments, first-order absorption, linear elimination from central.",
)
