"""One-compartment model with first-order absorption (nlmixr2 naming)."""

from cellpkpd import Model, Output, Param, State


def vector_field(t, s, p, c):
    return {
        "depot": -p.ka * s.depot,
        "central": p.ka * s.depot - p.cl / p.v * s.central,
    }


model = Model(
    name="pk_1cmt_oral",
    time_unit="h",
    description="One compartment, first-order absorption from a depot, linear elimination.",
    states=[
        State("depot", "mg", "absorption depot (CMT 1)"),
        State("central", "mg", "central compartment (CMT 2)"),
    ],
    params=[
        Param("cl", 1.0, "L/h", "clearance"),
        Param("v", 20.0, "L", "volume of distribution"),
        Param("ka", 1.0, "1/h", "first-order absorption rate constant"),
    ],
    vector_field=vector_field,
    outputs=[Output("cp", "mg/L", lambda t, s, p, c: s.central / p.v, "plasma concentration")],
    linear=True,
)
