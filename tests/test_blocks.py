"""Composing models from blocks, dose-driven switches, and model documentation."""

import math

import numpy as np
import pandas as pd
import pytest

import cellpkpd as cp
from cellpkpd.blocks import Block, compose, linear_pk, michaelis_menten


def test_blocks_add_their_rates_on_shared_states():
    linear = compose("a", "h", [linear_pk(1)])
    combined = compose("b", "h", [linear_pk(1), michaelis_menten()])
    y = np.array([40.0])
    p_lin = np.array([1.0, 20.0])
    p_mm = np.array([1.0, 20.0, 10.0, 1.0])
    mm_part = -10.0 * 2.0 / (1.0 + 2.0)
    assert float(combined.rhs(0.0, y, p_mm, np.zeros(0))[0]) == pytest.approx(
        float(linear.rhs(0.0, y, p_lin, np.zeros(0))[0]) + mm_part)


@pytest.mark.parametrize("blocks, message", [
    ([linear_pk(1), linear_pk(1)], "block names must be unique"),
    ([linear_pk(1), Block("x", states=[cp.State("central", "mg")])], "declared differently"),
    ([linear_pk(1), Block("x", states=linear_pk(1).states)], "declared by blocks"),
    ([linear_pk(1), Block("x", params=[cp.Param("cl", 2.0, "L/h")])], "declared differently"),
    ([linear_pk(1), Block("x", rates=lambda t, s, p, c, d: {"nowhere": 1.0})], "unknown state"),
    ([linear_pk(1), Block("x", derived={"cp": lambda t, s, p, c, d: 0.0})], "two blocks"),
])
def test_compose_rejects_pieces_that_do_not_fit(blocks, message):
    with pytest.raises(cp.ModelError, match=message):
        compose("bad", "h", blocks)


def test_cyclic_derived_quantities_are_reported():
    loop = Block("loop", derived={"a": lambda t, s, p, c, d: d.b, "b": lambda t, s, p, c, d: d.a},
                 rates=lambda t, s, p, c, d: {"central": d.a})
    with pytest.raises(cp.ModelError, match="cycle: a -> b -> a"):
        compose("cyclic", "h", [linear_pk(1), loop])


def test_stein_reinfusion_restarts_expansion():
    model = cp.load_model("stein2019_cart")
    p = model.default_params()
    rows = pd.DataFrame([dict(ID=1, TIME=0.0, EVID=1, AMT=1.0, CMT="e"),
                         dict(ID=1, TIME=30.0, EVID=1, AMT=1.0, CMT="e")])
    times = np.array([20.0, 30.0 + 5.0, 30.0 + p["tmax"] + 3.0])
    sim = cp.simulate(model, rows, times=times, states=True,
                      solver=cp.Solver(rtol=1e-10, atol=1e-12))
    rho = math.log(p["foldx"]) / p["tmax"]
    e_at_30 = p["cmax"] * math.exp(-p["alpha"] * (30.0 - p["tmax"]))
    after_second = (e_at_30 + p["cmax"] / p["foldx"]) * math.exp(rho * 5.0)
    np.testing.assert_allclose(sim["e"].values[0, 1], after_second, rtol=1e-8)
    contracting = (e_at_30 + p["cmax"] / p["foldx"]) * p["foldx"] * math.exp(-p["alpha"] * 3.0)
    np.testing.assert_allclose(sim["e"].values[0, 2], contracting, rtol=1e-8)


def test_switch_must_name_compartments_of_the_model():
    with pytest.raises(cp.ModelError, match="unknown compartments"):
        compose("bad", "h", [linear_pk(1), Block("x", switches=[cp.Switch("on", ("gut",))])])


def test_describe_documents_every_parameter_and_output():
    model = cp.load_model("msc_ifna")
    text = cp.describe(model, show=False)
    for p in model.params:
        assert p.tag in ("lit", "der", "asm"), p.name
        assert p.source and p.unit and p.description, p.name
        assert p.name in text
    for o in model.outputs:
        assert o.unit and o.description and o.name in text
    assert "[asm]" in text and "[lit]" in text and "[der]" in text
    assert "Claret" in text and "Assumptions" in text
    assert model.default_params()["k_bl"] == 20.0


@pytest.mark.parametrize("name", ["msc_ifna", "singh2021_idecel", "nkg2d_carnk_mm",
                                  "stein2019_cart"])
def test_mechanistic_models_document_units_tags_and_sources(name):
    model = cp.load_model(name)
    assert model.time_unit == "day" and model.references
    for p in model.params:
        assert p.unit and p.tag in ("lit", "der", "asm") and p.source, (name, p.name)
    for s in model.states:
        assert s.unit, (name, s.name)
    for o in model.outputs:
        assert o.unit, (name, o.name)


def test_assay_metadata_follow_models_md():
    model = cp.load_model("msc_ifna")
    by_name = {o.name: o for o in model.outputs}
    assert by_name["qpcr_blood"].lloq == 10 and by_name["qpcr_blood"].error.sigma == 0.5
    assert by_name["ifna_serum"].lloq == 2 and by_name["il2_serum"].lloq == 0.5
    il6 = by_name["il6_serum"].error
    assert il6.kind == "lognormal" and il6.sigma == 0.3
    assert by_name["cd8"].error.sigma == 0.2 and by_name["cd8_pct"].unit == "%"
    sld = by_name["sld"].error
    assert (sld.kind, sld.add, sld.prop) == ("combined", 3.0, 0.1)


@pytest.fixture(scope="module")
def pembrolizumab_alone():
    from cellpkpd.blocks import pembrolizumab

    weight = Block("weight", covariates=[cp.Covariate("WT", 76.8, "kg", "body weight")])
    return compose("pd1_only", "day", [pembrolizumab(), weight],
                   outputs=[cp.Output("c_pd1", "mg/L", lambda t, s, p, c, d: d.c_pd1,
                                      "anti-PD-1 serum concentration")])


@pytest.mark.parametrize("wt", [50.0, 120.0])
def test_pembrolizumab_scales_both_clearances_and_both_volumes(pembrolizumab_alone, wt):
    """Ahamadi 2017 (CPT:PSP 6:49), final model: CL and Q are each multiplied by
    (WT/76.8)^0.595, Vc and Vp each by (WT/76.8)^0.489. A 200 mg bolus is compared with the
    matrix-exponential solution of the two-compartment system built here from those values."""
    from scipy.linalg import expm

    fcl, fv = (wt / 76.8) ** 0.595, (wt / 76.8) ** 0.489
    cl, q, vc, vp = 0.22 * fcl, 0.795 * fcl, 3.48 * fv, 4.06 * fv  # L/day, L
    k = np.array([[-(cl + q) / vc, q / vp], [q / vc, -q / vp]])  # on amounts (mg)
    times = np.array([0.25, 2.0, 7.0, 21.0, 63.0])
    expected = np.array([(expm(k * t) @ [200.0, 0.0])[0] / vc for t in times])
    rows = pd.DataFrame([dict(ID=1, TIME=0.0, EVID=1, AMT=200.0, CMT="pd1_central", WT=wt)])
    sim = cp.simulate(pembrolizumab_alone, rows, times=times,
                      solver=cp.Solver("tsit5", rtol=1e-10, atol=1e-12))
    np.testing.assert_allclose(sim["c_pd1"].values[0], expected, rtol=1e-7)
