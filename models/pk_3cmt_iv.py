"""Three-compartment model, intravenous dosing (nlmixr2 naming)."""

from cellpkpd import Model, Output, Param, State


def vector_field(t, s, p, c):
    to_p2 = p.q / p.v1 * s.central - p.q / p.v2 * s.peripheral
    to_p3 = p.q3 / p.v1 * s.central - p.q3 / p.v3 * s.peripheral2
    return {
        "central": -p.cl / p.v1 * s.central - to_p2 - to_p3,
        "peripheral": to_p2,
        "peripheral2": to_p3,
    }


model = Model(
    name="pk_3cmt_iv",
    time_unit="h",
    description="Three compartments, intravenous dosing, linear elimination from central.",
    states=[
        State("central", "mg", "central compartment (CMT 1)"),
        State("peripheral", "mg", "first peripheral compartment (CMT 2)"),
        State("peripheral2", "mg", "second peripheral compartment (CMT 3)"),
    ],
    params=[
        Param("cl", 1.0, "L/h", "clearance"),
        Param("v1", 20.0, "L", "central volume"),
        Param("q", 2.0, "L/h", "clearance to the first peripheral compartment"),
        Param("v2", 50.0, "L", "first peripheral volume"),
        Param("q3", 0.5, "L/h", "clearance to the second peripheral compartment"),
        Param("v3", 100.0, "L", "second peripheral volume"),
    ],
    vector_field=vector_field,
    outputs=[Output("cp", "mg/L", lambda t, s, p, c: s.central / p.v1, "plasma concentration")],
    linear=True,
)
