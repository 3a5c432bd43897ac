"""The nmtests dosing-suite model (mrgsolve/nmtests, ADVAN2/TRANS2): one compartment with
first-order absorption; F2, ALAG2, R2 and D2 come from the data columns BIOAV, LAGT, RAT2 and
DUR2. CP is in mg/L x 1000 (= ug/L), as NONMEM's table prints it."""

from cellpkpd import Covariate, Model, Output, Param, State


def vector_field(t, s, p, c):
    return {"depot": -p.ka * s.depot, "central": p.ka * s.depot - p.cl / p.v * s.central}


model = Model(
    name="nmtests_1cmt_oral",
    time_unit="h",
    states=[State("depot", "mg"), State("central", "mg")],
    params=[Param("cl", 1.1, "L/h"), Param("v", 20.0, "L"), Param("ka", 1.5, "1/h")],
    covariates=[
        Covariate("BIOAV", 1.0, "", "bioavailability of doses into central"),
        Covariate("LAGT", 0.0, "h", "lag time of doses into central"),
        Covariate("RAT2", 1.0, "mg/h", "modeled infusion rate into central (RATE=-1)"),
        Covariate("DUR2", 1.0, "h", "modeled infusion duration into central (RATE=-2)"),
    ],
    vector_field=vector_field,
    outputs=[Output("cp", "ug/L", lambda t, s, p, c: s.central / (p.v / 1000.0))],
    bioavailability={"central": lambda p, c: c.BIOAV},
    lag_time={"central": lambda p, c: c.LAGT},
    infusion_rate={"central": lambda p, c: c.RAT2},
    infusion_duration={"central": lambda p, c: c.DUR2},
    linear=True,
)
