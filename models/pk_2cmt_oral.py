"""Two-compartment model with first-order absorption (nlmixr2 naming)."""

from cellpkpd import Model, Output, Param, State


def vector_field(t, s, p, c):
    to_peripheral = p.q / p.v1 * s.central - p.q / p.v2 * s.peripheral
    return {
        "depot": -p.ka * s.depot,
        "central": p.ka * s.depot - p.cl / p.v1 * s.central - to_peripheral,
        "peripheral": to_peripheral,
    }


model = Model(
    name="pk_2cmt_oral",
    time_unit="h",
    description="Two compartments, first-order absorption, linear elimination from central.",
    states=[
        State("depot", "mg", "absorption depot (CMT 1)"),
        State("central", "mg", "central compartment (CMT 2)"),
        State("peripheral", "mg", "peripheral compartment (CMT 3)"),
    ],
    params=[
        Param("cl", 1.0, "L/h", "clearance"),
        Param("v1", 20.0, "L", "central volume"),
        Param("q", 2.0, "L/h", "inter-compartmental clearance"),
        Param("v2", 50.0, "L", "peripheral volume"),
        Param("ka", 1.0, "1/h", "first-order absorption rate constant"),
    ],
    vector_field=vector_field,
    outputs=[Output("cp", "mg/L", lambda t, s, p, c: s.central / p.v1, "plasma concentration")],
    linear=True,
)
