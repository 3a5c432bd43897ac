"""One compartment, intravenous dosing, Michaelis–Menten elimination
``vmax·cp/(km + cp)``. Time unit: h."""

from cellpkpd.blocks import compose, linear_pk, michaelis_menten

model = compose("pk_1cmt_mm", "h", [linear_pk(1, elimination=False), michaelis_menten()],
                description="One compartment, IV, saturable (Michaelis–Menten) elimination.")
