"""One compartment, first-order absorption from a depot, linear elimination. Time unit: h."""

from cellpkpd.blocks import compose, linear_pk

model = compose(
    "pk_1cmt_oral", "h", [linear_pk(1, oral=True)], linear=True,
    description="One compartment, first-order absorption from a depot, linear elimination.",
)
