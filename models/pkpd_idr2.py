"""Indirect-response model II (inhibition of loss) driven by a one-compartment IV
drug (Dayneka, Garg & Jusko 1993). Time unit: h."""

from cellpkpd.blocks import compose, indirect_response, linear_pk

model = compose(
    "pkpd_idr2", "h", [linear_pk(1), indirect_response(2)],
    description="Indirect response 2: inhibition of loss by the plasma concentration.",
)
