"""Indirect-response model I (inhibition of production) driven by a one-compartment IV
drug (Dayneka, Garg & Jusko 1993). Time unit: h."""

from cellpkpd.blocks import compose, indirect_response, linear_pk

model = compose(
    "pkpd_idr1", "h", [linear_pk(1), indirect_response(1)],
    description="Indirect response 1: inhibition of production by the plasma concentration.",
)
