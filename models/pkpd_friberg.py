"""Friberg (2002) semi-mechanistic myelosuppression driven by a one-compartment IV drug:
proliferating cells, three transit compartments and circulating cells, linear drug effect
``slope·cp`` and feedback ``(circ0/circ)^γ``. Time unit: h."""

from cellpkpd import Output
from cellpkpd.blocks import compose, friberg, linear_pk

model = compose(
    "pkpd_friberg", "h", [linear_pk(1), friberg()],
    outputs=[Output("circ", "10^9/L", lambda t, s, p, c, d: s.circ, "circulating neutrophils")],
    description="Friberg myelosuppression: linear drug effect on proliferation, feedback.",
)
