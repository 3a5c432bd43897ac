"""One-compartment model, intravenous dosing (nlmixr2 naming)."""

from cellpkpd import Model, Output, Param, State


def vector_field(t, s, p, c):
    return {"central": -p.cl / p.v * s.central}


model = Model(
    name="pk_1cmt_iv",
    time_unit="h",
    description="One compartment, intravenous bolus or infusion, linear elimination.",
    states=[State("central", "mg", "central compartment (CMT 1)")],
    params=[
        Param("cl", 1.0, "L/h", "clearance"),
        Param("v", 20.0, "L", "volume of distribution"),
    ],
    vector_field=vector_field,
    outputs=[Output("cp", "mg/L", lambda t, s, p, c: s.central / p.v, "plasma concentration")],
    linear=True,
)
