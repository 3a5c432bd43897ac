"""Indirect-response model III (stimulation of production) driven by a one-compartment IV
drug (Dayneka, Garg & Jusko 1993). Time unit: h."""

from cellpkpd.blocks import compose, indirect_response, linear_pk

model = compose(
    "pkpd_idr3", "h", [linear_pk(1), indirect_response(3)],
    description="Indirect response 3: stimulation of production by the plasma concentration.",
)
