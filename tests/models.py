"""Small models used only by the tests."""

import jax.numpy as jnp

from cellpkpd import Covariate, Model, Output, Param, State


def _mm(t, s, p, c):
    conc = s.central / p.v
    return {"central": -p.vmax * conc / (p.km + conc)}


MICHAELIS_MENTEN = Model(
    name="test_mm",
    time_unit="h",
    states=[State("central", "mg")],
    params=[Param("vmax", 10.0, "mg/h"), Param("km", 2.0, "mg/L"), Param("v", 20.0, "L")],
    vector_field=_mm,
    outputs=[Output("cp", "mg/L", lambda t, s, p, c: s.central / p.v)],
)


def _oral(t, s, p, c):
    return {"depot": -p.ka * s.depot,
            "central": p.ka * s.depot - p.cl * c.WT / 70.0 / p.v * s.central}


# Lag on the depot, bioavailability and modeled duration on the central compartment.
ORAL_MODIFIERS = Model(
    name="test_oral_modifiers",
    time_unit="h",
    states=[State("depot", "mg"), State("central", "mg")],
    params=[Param("cl", 2.0, "L/h"), Param("v", 25.0, "L"), Param("ka", 0.8, "1/h"),
            Param("alag", 0.7, "h"), Param("f", 0.6, "", bounds=(0.0, 1.0)),
            Param("dur", 1.7, "h")],
    covariates=[Covariate("WT", 70.0, "kg")],
    vector_field=_oral,
    outputs=[Output("cp", "mg/L", lambda t, s, p, c: s.central / p.v)],
    lag_time={"depot": lambda p, c: p.alag},
    bioavailability={"central": lambda p, c: p.f},
    infusion_duration={"central": lambda p, c: p.dur},
    linear=True,
)

ORAL_MODIFIERS_ODE = Model(**{**ORAL_MODIFIERS.__dict__, "name": "test_oral_modifiers_ode",
                              "linear": False})


def _iv_wt(t, s, p, c):
    return {"central": -p.cl * c.WT / 70.0 / p.v * s.central}


IV_WEIGHT = Model(
    name="test_iv_weight",
    time_unit="h",
    states=[State("central", "mg")],
    params=[Param("cl", 2.0, "L/h"), Param("v", 25.0, "L")],
    covariates=[Covariate("WT", 70.0, "kg")],
    vector_field=_iv_wt,
    outputs=[Output("cp", "mg/L", lambda t, s, p, c: s.central / p.v)],
    linear=True,
)


def _stiff(t, s, p, c):
    return {"fast": -p.k_fast * (s.fast - s.slow), "slow": -0.1 * s.slow + jnp.zeros(())}


STIFF = Model(
    name="test_stiff",
    time_unit="h",
    states=[State("fast", "mg"), State("slow", "mg")],
    params=[Param("k_fast", 1e6, "1/h")],
    vector_field=_stiff,
    outputs=[Output("fast", "mg", lambda t, s, p, c: s.fast)],
)
