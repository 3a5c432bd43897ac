"""Indirect-response model IV (stimulation of loss) driven by a one-compartment IV
drug (Dayneka, Garg & Jusko 1993). Time unit: h."""

from cellpkpd.blocks import compose, indirect_response, linear_pk

model = compose(
    "pkpd_idr4", "h", [linear_pk(1), indirect_response(4)],
    description="Indirect response 4: stimulation of loss by the plasma concentration.",
)
