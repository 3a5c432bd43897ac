"""Declaring and loading models."""

import numpy as np
import pytest

import cellpkpd as cp

from conftest import DATA


def simple(**overrides):
    spec = dict(
        name="m", time_unit="h",
        states=[cp.State("central", "mg")],
        params=[cp.Param("k", 0.1, "1/h")],
        vector_field=lambda t, s, p, c: {"central": -p.k * s.central},
        outputs=[cp.Output("amount", "mg", lambda t, s, p, c: s.central)],
    )
    spec.update(overrides)
    return cp.Model(**spec)


def test_missing_derivative_is_named():
    with pytest.raises(cp.ModelError, match=r"missing \['peripheral'\]"):
        simple(states=[cp.State("central", "mg"), cp.State("peripheral", "mg")])


def test_unknown_name_in_vector_field_lists_the_declared_ones():
    with pytest.raises(cp.ModelError, match=r"no parameter 'ke'.*\['k'\]"):
        simple(vector_field=lambda t, s, p, c: {"central": -p.ke * s.central})


def test_false_linear_declaration_is_caught():
    with pytest.raises(cp.ModelError, match="not affine"):
        simple(vector_field=lambda t, s, p, c: {"central": -p.k * s.central**2}, linear=True)


def test_bad_default_and_unknown_modifier_compartment():
    with pytest.raises(cp.ModelError, match="default -1.0 must be > 0"):
        simple(params=[cp.Param("k", -1.0, "1/h")])
    with pytest.raises(cp.ModelError, match="unknown compartment"):
        simple(lag_time={"gut": lambda p, c: 1.0})


def test_bundled_models_load_by_name_with_units():
    names = cp.bundled_models()
    for name in ["pk_1cmt_iv", "pk_1cmt_oral", "pk_2cmt_iv", "pk_2cmt_oral", "pk_3cmt_iv"]:
        assert name in names
        model = cp.load_model(name)
        assert model.name == name and model.time_unit == "h"
        assert all(p.unit for p in model.params) and model.outputs[0].name == "cp"
    assert cp.load_model("pk_2cmt_oral").state_names == ("depot", "central", "peripheral")
    assert cp.load_model("pk_2cmt_iv").state_names[0] == "central"
    assert cp.load_model("pk_3cmt_iv").param_names == ("cl", "v1", "q", "v2", "q3", "v3")
    assert cp.load_model("pk_1cmt_oral") is cp.load_model("pk_1cmt_oral")


def test_load_model_by_path_and_unknown_name():
    model = cp.load_model(DATA / "nmtests" / "model.py")
    assert model.name == "nmtests_1cmt_oral"
    with pytest.raises(cp.ModelError, match="no bundled model named 'pk_9cmt'.*pk_1cmt_oral"):
        cp.load_model("pk_9cmt")


def test_default_params_and_units():
    model = cp.load_model("pk_1cmt_oral")
    assert model.default_params() == {"cl": 1.0, "v": 20.0, "ka": 1.0}
    assert model.units()["cp"] == "mg/L"


def test_three_compartment_matches_its_own_ode_path():
    # The closed form is validated elsewhere against textbook solutions; here the 3-cmt model's
    # closed form must agree with the ODE solver on the same vector field.
    data = "ID,TIME,AMT,CMT,RATE,EVID\n1,0,100,1,0,1\n1,4,50,1,25,1\n"
    times = [0.5, 3, 4.5, 10, 48]
    import io
    a = cp.simulate("pk_3cmt_iv", io.StringIO(data), times=times)
    b = cp.simulate("pk_3cmt_iv", io.StringIO(data), times=times,
                    solver=cp.Solver(method="tsit5", rtol=1e-12, atol=1e-12))
    np.testing.assert_allclose(a["cp"].values, b["cp"].values, rtol=1e-8)
