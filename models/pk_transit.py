"""Transit-compartment absorption (Savic 2007): a dose into ``depot`` passes three transit
compartments at ``ktr = 4/mtt`` and is absorbed from the last at ``ka`` into a one-compartment
model. Time unit: h."""

from cellpkpd.blocks import compose, linear_pk, transit_absorption

model = compose(
    "pk_transit", "h", [transit_absorption(3), linear_pk(1)], linear=True,
    description="Three transit compartments before first-order absorption; one compartment.",
    references=("Savic RM et al. J Pharmacokinet Pharmacodyn 2007;34:711-726",),
)
