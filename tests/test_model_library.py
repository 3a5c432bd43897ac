"""The MODELS.md models against independent plain-scipy implementations (reference_models.py),
their untreated natural history, mass balance, non-negativity and Stein's published figures."""

import math

import numpy as np
import pandas as pd
import pytest
from reference_models import (
    car_reference,
    msc_reference,
    simulate_infusions,
)  # fmt: skip

import cellpkpd as cp

TIGHT = cp.Solver(rtol=1e-10, atol=1e-12, max_steps=200_000)
HALF_HOUR = 1.0 / 48.0


def dataset(doses, times, covariates=None, n_subjects=1):
    """NONMEM rows: ``doses`` = (time, CMT name, amount, duration) and EVID 2 output rows."""
    rows = []
    for i in range(1, n_subjects + 1):
        rows.append(dict(ID=i, TIME=min([d[0] for d in doses] + [times[0]]), EVID=2, AMT=0,
                         CMT=".", RATE=0))
        for t, cmt, amt, dur in doses:
            rows.append(dict(ID=i, TIME=t, EVID=1, AMT=amt, CMT=cmt,
                             RATE=amt / dur if dur > 0 else 0.0))
    frame = pd.DataFrame(rows)
    for name, value in (covariates or {}).items():
        frame[name] = value
    return frame


def assert_close(actual, expected, rtol, floor=1e-8, what=""):
    """Relative agreement, with an absolute floor of ``floor`` × the largest |expected|."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    atol = floor * np.max(np.abs(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


# -- MSC-IFNα ------------------------------------------------------------------------------------
MSC_COV = dict(WT=72.0, HT=168.0, SLD0=95.0, WBC=5500.0, ALB=3.6, AGE=67.0)


@pytest.fixture(scope="module")
def msc():
    return cp.load_model("msc_ifna")


def msc_cycle1_doses(wt, bsa):
    """Cycle 1 of the combination arm, all four drugs, each over 30 min."""
    return [(-5.0, "pac_central", 125.0 * bsa * 1000.0, HALF_HOUR),
            (-4.0, "cyc_central", 200.0 * bsa, HALF_HOUR),
            (0.0, "msc_blood", 2e6 * wt, HALF_HOUR),
            (7.0, "pd1_central", 200.0, HALF_HOUR)]


MSC_TIMES = np.array([-4.9, -4.5, -3.0, -1.0, 0.01, 0.05, 0.3, 1.0, 2.0, 3.5, 6.0, 7.01, 7.3,
                      9.0, 14.0, 21.0, 28.0])


@pytest.fixture(scope="module")
def msc_cycle1(msc):
    bsa = float(cp.bsa(MSC_COV["WT"], MSC_COV["HT"]))
    doses = msc_cycle1_doses(MSC_COV["WT"], bsa)
    data = dataset(doses, MSC_TIMES, MSC_COV)  # no BSA column: derived from WT and HT
    sim = cp.simulate(msc, data, times=MSC_TIMES, solver=TIGHT, states=True)
    return sim, doses, bsa


def test_msc_ifna_matches_scipy_on_cycle1_with_all_four_drugs(msc_cycle1):
    sim, doses, bsa = msc_cycle1
    rhs, y0, outputs, ix = msc_reference(dict(MSC_COV, BSA=bsa), t_first_dose=-5.0)
    ref_doses = [(t, ix[cmt], amt, dur) for t, cmt, amt, dur in doses]
    ys = simulate_infusions(rhs, y0, ref_doses, MSC_TIMES, t0=-5.0, rtol=1e-11, atol=1e-12)
    expected = [outputs(t, y) for t, y in zip(MSC_TIMES, ys, strict=True)]
    for name in expected[0]:
        assert_close(sim[name].values[0], [e[name] for e in expected], 1e-5, what=name)
    # Every drug and the cells did something in this window.
    for name in ("c_pac", "c_cyc", "c_pd1", "qpcr_blood"):
        assert sim[name].values[0].max() > 0


def test_msc_ifna_states_stay_non_negative_and_cells_balance(msc, msc_cycle1):
    sim, doses, bsa = msc_cycle1
    for st in msc.state_names:
        name = st if st not in msc.output_names else f"state_{st}"
        values = sim[name].values
        assert values.min() >= -1e-9 * max(1.0, np.abs(values).max()), st
    # Without the death terms every infused cell is somewhere, at all times.
    no_death = dict(k_dl=1e-300, k_ds=1e-300, k_dt=1e-300)
    data = dataset(doses, MSC_TIMES, MSC_COV)
    kept = cp.simulate(msc, data, no_death, times=MSC_TIMES, states=True,
                       solver=cp.Solver(rtol=1e-8, atol=1e-10))
    cells = sum(kept[f"state_{s}" if s in msc.output_names else s].values[0]
                for s in ("msc_blood", "msc_lung", "msc_spleen", "msc_tumor"))
    dose = 2e6 * MSC_COV["WT"]
    after = MSC_TIMES >= HALF_HOUR
    np.testing.assert_allclose(cells[after], dose, rtol=1e-9)
    assert np.all(cells[MSC_TIMES <= 0] == 0)


def test_msc_ifna_without_doses_keeps_its_baseline_for_a_year(msc):
    times = np.linspace(0.0, 365.0, 13)
    cov = dict(MSC_COV, MONO0=350.0, CD40=650.0)
    sim = cp.simulate(msc, dataset([], times, cov), times=times, solver=TIGHT, states=True)
    p = msc.default_params()
    constant = {"mono": 350.0, "cd4": 650.0, "cd8": p["cd80"], "nk": p["nk0"],
                "anc": p["anc0"], "il6_serum": p["base_il6"], "ifnb_serum": p["base_ifnb"],
                "tnfa_serum": p["base_tnfa"], "il2_serum": p["base_il2"]}
    for name, value in constant.items():
        np.testing.assert_allclose(sim[name].values[0], value, rtol=1e-8, err_msg=name)
    for name in ("qpcr_blood", "ifna_serum", "c_pac", "c_cyc", "c_pd1"):
        assert np.all(sim[name].values == 0), name
    # The untreated tumor follows its natural history, SLD0·exp(kg·t).
    np.testing.assert_allclose(sim["sld"].values[0], cov["SLD0"] * np.exp(p["kg"] * times),
                               rtol=1e-8)


def test_msc_ifna_bsa_is_derived_from_weight_and_height(msc):
    times = np.array([-3.9, -3.0, 1.0])
    doses = [(-4.0, "cyc_central", 360.0, 0.0)]
    cl = 5.41 * 24

    def bolus(bsa):  # Ahmed 2020: V = 46.5·(BSA/1.58)^0.861
        v = 46.5 * (bsa / 1.58) ** 0.861
        return 360.0 / v * np.exp(-cl / v * (times + 4.0))

    for covariates, bsa in ((dict(WT=60.0, HT=150.0), math.sqrt(150 * 60 / 3600)),
                            (dict(WT=60.0, HT=150.0, BSA=2.2), 2.2)):
        sim = cp.simulate(msc, dataset(doses, times, covariates), times=times, solver=TIGHT)
        np.testing.assert_allclose(sim["c_cyc"].values[0], bolus(bsa), rtol=1e-7)


# -- Singh 2021 and the CAR-NK model -------------------------------------------------------
CAR_TIMES = np.array([0.02, 0.2, 1, 3, 7, 14, 21, 28, 60, 120, 180], dtype=float)


@pytest.mark.parametrize("name, nk, dose_cmt, dose", [
    ("singh2021_idecel", False, "carte_pb", 4.5e8),
    ("nkg2d_carnk_mm", True, "e_pb", 1e9),
])
def test_car_models_match_scipy(name, nk, dose_cmt, dose):
    model = cp.load_model(name)
    sim = cp.simulate(model, dataset([(0.0, dose_cmt, dose, 0.0)], CAR_TIMES), times=CAR_TIMES,
                      solver=TIGHT, states=True)
    rhs, y0, outputs = car_reference(nk=nk)
    ys = simulate_infusions(rhs, y0, [(0.0, 0, dose, 0.0)], CAR_TIMES, t0=0.0, method="Radau",
                            rtol=1e-11, atol=1e-14)
    expected = [outputs(t, y) for t, y in zip(CAR_TIMES, ys, strict=True)]
    for out in expected[0]:
        assert_close(sim[out].values[0], [e[out] for e in expected], 1e-5, what=out)
    assert sim["tumor"].values[0, -1] < 0.5 * sim["tumor"].values[0, 0] or nk
    for st in model.state_names:
        values = sim[st if st not in model.output_names else f"state_{st}"].values
        assert values.min() >= 0, st


def test_carnk_ligand_negative_patients_present_no_target():
    model = cp.load_model("nkg2d_carnk_mm")
    data = dataset([(0.0, "e_pb", 1e9, 0.0)], CAR_TIMES, dict(NKG2DL_POS=0.0))
    sim = cp.simulate(model, data, times=CAR_TIMES, solver=TIGHT)
    p = model.default_params()
    untreated = p["tumor0"] * np.exp(p["kg"] * CAR_TIMES)
    np.testing.assert_allclose(sim["tumor"].values[0], untreated, rtol=1e-8)
    np.testing.assert_allclose(sim["il6_serum"].values[0], p["base_il6"], rtol=1e-8)


@pytest.mark.parametrize("name, nk", [("singh2021_idecel", False), ("nkg2d_carnk_mm", True)])
def test_car_models_without_doses_follow_the_untreated_disease(name, nk):
    model = cp.load_model(name)
    times = np.linspace(0.0, 365.0, 13)
    sim = cp.simulate(model, dataset([], times), times=times, solver=TIGHT, states=True)
    rhs, y0, outputs = car_reference(nk=nk)
    ys = simulate_infusions(rhs, y0, [], times[1:], t0=0.0, method="Radau", rtol=1e-12,
                            atol=1e-14)
    p = model.default_params()
    # Untreated myeloma grows at kg; M-protein follows it (reference), cytokines stay put.
    np.testing.assert_allclose(sim["tumor"].values[0], p["tumor0"] * np.exp(p["kg"] * times),
                               rtol=1e-8)
    np.testing.assert_allclose(sim["mprot"].values[0, 1:], ys[:, 6], rtol=1e-8)
    if nk:
        for cyt in ("il6", "ifng", "tnfa"):
            np.testing.assert_allclose(sim[f"{cyt}_serum"].values[0], p[f"base_{cyt}"],
                                       rtol=1e-8)


def test_car_cells_balance_without_death_or_expansion():
    model = cp.load_model("singh2021_idecel")
    sim = cp.simulate(model, dataset([(0.0, "carte_pb", 1e8, 0.0)], CAR_TIMES),
                      dict(kel_e=1e-300, kel_m=1e-300, kexp_max=1e-300), times=CAR_TIMES,
                      solver=TIGHT, states=True)
    total = sum(sim[s].values[0] for s in ("carte_pb", "cartm_pb", "carte_t", "cartm_t"))
    np.testing.assert_allclose(total, 1e8, rtol=1e-9)


# -- Stein 2019 ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stein_curve():
    model = cp.load_model("stein2019_cart")
    times = np.concatenate([np.linspace(0.05, 9.25, 185), [9.3], np.linspace(9.35, 400, 500)])
    sim = cp.simulate(model, dataset([(0.0, "e", 1.0, 0.0)], times), times=times, solver=TIGHT,
                      states=True)
    return model, times, sim


def test_stein_matches_its_closed_form(stein_curve):
    model, times, sim = stein_curve
    p = model.default_params()
    rho = math.log(p["foldx"]) / p["tmax"]
    tau = times - p["tmax"]
    expected = np.where(
        times < p["tmax"], p["cmax"] / p["foldx"] * np.exp(rho * times),
        p["cmax"] * ((1 - p["fb"]) * np.exp(-p["alpha"] * tau)
                     + p["fb"] * np.exp(-p["beta"] * tau)))
    np.testing.assert_allclose(sim["transgene"].values[0], expected, rtol=1e-7)


def test_stein_reproduces_the_published_figures(stein_curve):
    _, times, sim = stein_curve
    y = sim["transgene"].values[0]
    k = int(np.argmax(y))
    assert times[k] == pytest.approx(9.3) and y[k] == pytest.approx(24000, rel=1e-6)

    def slope(t0, t1, series):
        i, j = np.searchsorted(times, [t0, t1])
        return np.polyfit(times[i:j], np.log(series[i:j]), 1)[0]

    # Figures as published, to the digits published.
    assert round(math.log(2) / slope(1, 9, y), 2) == 0.78  # doubling time
    assert round(-math.log(2) / slope(9.4, 20, sim["e"].values[0]), 1) == 4.3  # initial decline
    assert round(-math.log(2) / slope(250, 400, y), -1) == 220  # terminal half-life
