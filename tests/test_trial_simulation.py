"""Model-driven trial simulations: endpoint derivations against the endpoint functions applied
subject by subject, trial resampling against exact binomial/design formulas, the death model
against scipy. Hand-built populations, no ODE solve."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from cellpkpd.endpoints import (
    dor_times,
    grade_episodes,
    imwg,
    kaplan_meier,
    pfs_times,
    recist,
    treatment_intolerance,
)  # fmt: skip
from cellpkpd.errors import DataError, ParameterError
from cellpkpd.regimens import msc_ifna_combination, msc_ifna_monotherapy
from cellpkpd.trial_simulation import (
    WeibullDeath,
    carnk_dlt,
    carnk_imwg,
    dor_summary,
    dose_times,
    grade_onsets,
    intolerance_flags,
    msc_intolerance,
    phase2_endpoints,
    phase2_trials,
    probability_summary,
)  # fmt: skip
from cellpkpd.trials import arm1_exact, arm1_from_population

DAYS = np.arange(-1.0, 64.0, 1.0)
INFUSIONS = np.array([0.0, 28.0])


def dips(rng, n, baseline, depth_scale):
    """Smooth random trajectories with one or two dips after the infusions."""
    t = DAYS[None, :]
    out = np.full((n, DAYS.size), 1.0) * baseline * rng.uniform(0.8, 1.2, (n, 1))
    for start in (0.0, 28.0):
        onset = start + rng.uniform(0, 30, (n, 1))
        width = rng.uniform(2, 15, (n, 1))
        depth = rng.uniform(0, depth_scale, (n, 1))
        out *= 1 - depth * np.exp(-0.5 * ((t - onset - 2 * width) / width) ** 2)
    return out


@pytest.fixture(scope="module")
def labs():
    rng = np.random.default_rng(1)
    return {"lymphocytes": dips(rng, 80, 1.2, 0.9), "neutrophils": dips(rng, 80, 3.0, 0.95)}


def reference_ti(times, labs, i):
    episodes = pd.concat([grade_episodes(times, labs[lab][i], lab=lab, min_grade=3)
                          for lab in labs], ignore_index=True)
    return bool(treatment_intolerance(episodes, INFUSIONS)["intolerance"].any())


def test_onsets_match_grade_episodes(labs):
    for i in range(20):
        counts = labs["lymphocytes"][i]
        onset, duration = grade_onsets(DAYS, counts, 0.5)
        ref = grade_episodes(DAYS, counts, lab="lymphocytes", min_grade=3)
        starts = np.isfinite(onset)
        np.testing.assert_allclose(onset[starts], ref["start"].to_numpy(float), atol=1e-12)
        np.testing.assert_allclose(duration[starts], ref["duration"].to_numpy(float), atol=1e-12)


def test_intolerance_matches_endpoint_functions(labs):
    flags = intolerance_flags(DAYS, labs, INFUSIONS)
    reference = [reference_ti(DAYS, labs, i) for i in range(80)]
    assert flags.dtype == bool and 10 < flags.sum() < 70  # both outcomes occur
    np.testing.assert_array_equal(flags, reference)


def test_intolerance_edge_cases():
    grid = np.arange(0.0, 40.0)
    exact_seven = np.full(grid.size, 1.0)
    exact_seven[5:12] = 0.4
    exact_seven[[4, 12]] = 0.6  # crossings at 4.5 and 11.5: exactly 7 days
    short = np.full(grid.size, 1.0)
    short[5:11] = 0.4
    short[[4, 11]] = 0.6  # crossings at 4.5 and 10.5: 6 days
    both = np.vstack([exact_seven, short])
    flags = intolerance_flags(grid, {"lymphocytes": both}, [0.0])
    assert flags.tolist() == [True, False]
    assert [reference_ti(grid, {"lymphocytes": both}, i) for i in (0, 1)] == [True, False]
    with pytest.raises(ParameterError, match="does not cover"):
        intolerance_flags(grid, {"lymphocytes": both}, [10.0])
    with_nan = both.copy()
    with_nan[1, 3] = np.nan
    assert np.isnan(intolerance_flags(grid, {"lymphocytes": with_nan}, [0.0])[1])


def population(values: dict, other_lymph):
    dims = ("regimen", "draw", "subject", "time")
    shape = next(iter(values.values())).shape
    coords = {"regimen": [f"r{i}" for i in range(shape[0])], "time": DAYS}
    data = {k: (dims, v) for k, v in values.items()}
    data["other_lymph"] = (("draw", "subject"), other_lymph)
    return xr.Dataset(data, coords=coords)


def test_msc_intolerance_sums_lymphocyte_subsets(labs):
    lymph = labs["lymphocytes"][:40].reshape(2, 1, 20, -1) * 1000.0  # cells/µL
    other = np.full((1, 20), 250.0)
    ds = population({"cd4": lymph * 0.5 - 125.0, "cd8": lymph * 0.3 - 75.0,
                     "nk": lymph * 0.2 - 50.0,
                     "anc": labs["neutrophils"][:40].reshape(2, 1, 20, -1)}, other)
    ti = msc_intolerance(ds, {"r0": INFUSIONS, "r1": INFUSIONS})
    assert ti.dims == ("regimen", "draw", "subject")
    expected = [reference_ti(DAYS, labs, i) for i in range(40)]
    np.testing.assert_array_equal(ti.values.ravel(), expected)


def test_dose_times_expand_the_regimen():
    np.testing.assert_array_equal(
        dose_times(msc_ifna_monotherapy(2e6, infusions=3, interval=35), "msc_blood"),
        [0.0, 35.0, 70.0])
    np.testing.assert_array_equal(dose_times(msc_ifna_combination(6e5, cycles=2),
                                             "pac_central"), [-5.0, 23.0])


def test_probability_summary_leaves_out_subjects_not_evaluable():
    flags = xr.DataArray([[[1.0, 0.0, np.nan, 1.0], [0.0, 0.0, 0.0, 1.0]]],
                         dims=("regimen", "draw", "subject"), coords={"regimen": ["a"]})
    row = probability_summary(flags, credible=0.5).iloc[0]
    assert row["mean"] == pytest.approx((2 / 3 + 1 / 4) / 2)
    assert row["not_evaluable"] == 1
    assert row["lower"] == pytest.approx(np.quantile([2 / 3, 1 / 4], 0.25))
    with pytest.raises(ParameterError, match="credible"):
        probability_summary(flags, credible=1.5)
    with pytest.raises(DataError, match="True/False"):
        probability_summary(flags * 2, credible=0.9)


# -- Arm 1 ---------------------------------------------------------------------------------------

def ti_pool(fractions: np.ndarray, n: int, seed: int) -> xr.DataArray:
    """Pools with exactly round(f·n) TI subjects per (level, draw), shuffled."""
    rng = np.random.default_rng(seed)
    levels, draws = fractions.shape
    values = np.zeros((levels, draws, n), dtype=bool)
    for k in range(levels):
        for d in range(draws):
            values[k, d, rng.permutation(n)[:round(fractions[k, d] * n)]] = True
    return xr.DataArray(values, dims=("regimen", "draw", "subject"))


def test_arm1_from_population_matches_exact_per_draw_average():
    fractions = np.array([[0.5, 0.2, 0.8], [0.3, 0.1, 0.5], [0.2, 0.0, 0.3], [0.1, 0.0, 0.2]])
    pool = ti_pool(fractions, 50, seed=2)
    n = 20_000
    sim = arm1_from_population(pool, n_trials=n, seed=5)
    exact = np.mean([arm1_exact(fractions[:, d])["probability"] for d in range(3)], axis=0)
    observed = sim.selection["probability"].to_numpy()
    assert np.all(np.abs(observed - exact) <= 4 * np.sqrt(exact * (1 - exact) / n) + 1e-12)
    again = arm1_from_population(pool, n_trials=n, seed=5)
    np.testing.assert_array_equal(sim.ti_counts, again.ti_counts)


def test_arm1_keeps_one_draw_per_trial():
    # draw 0: every subject has TI at every dose; draw 1: none has. One draw per trial gives
    # P(no tolerated dose) = P(first dose selected) = 1/2.
    fractions = np.array([[1.0, 0.0]] * 4)
    sim = arm1_from_population(ti_pool(fractions, 10, seed=0), n_trials=4000, seed=1)
    probability = sim.selection.set_index("level")["probability"]
    assert probability[-1] + probability[0] == pytest.approx(1.0)
    assert abs(probability[0] - 0.5) < 4 * np.sqrt(0.25 / 4000)
    with pytest.raises(ValueError, match="one regimen per dose"):
        arm1_from_population(ti_pool(fractions[:2], 10, 0), n_trials=10, seed=0)


# -- death model, phase 2 -------------------------------------------------------------------------

def test_weibull_death_against_scipy():
    death = WeibullDeath(median_days=300.0, shape=1.5, beta=2.0)
    rng = np.random.default_rng(3)
    tsr = np.where(np.arange(4000) % 2 == 0, 1.0, 0.5)
    times = death.sample(tsr, rng)
    scale_1 = 300.0 / np.log(2) ** (1 / 1.5)
    for ratio, scale in ((1.0, scale_1), (0.5, scale_1 * 0.5 ** -2.0)):
        sample = times[tsr == ratio]
        result = stats.kstest(sample, stats.weibull_min(c=1.5, scale=scale).cdf)
        assert result.pvalue > 1e-3
    assert stats.kstest(times[tsr == 0.5], stats.weibull_min(c=1.5, scale=scale_1).cdf
                        ).pvalue < 1e-6  # the test can fail
    with pytest.raises(ParameterError, match="shape"):
        WeibullDeath(shape=0.0)


def reduced_population(sld: np.ndarray, tsr: np.ndarray, grades: np.ndarray, t: np.ndarray):
    dims = ("regimen", "draw", "subject")
    return xr.Dataset({
        "sld_assessed": ((*dims, "assessment"), sld[None, None]),
        "tsr": (dims, tsr[None, None]),
        "worst_grade_lymphocytes": (dims, grades[None, None, :, 0]),
        "worst_grade_neutrophils": (dims, grades[None, None, :, 1]),
    }, coords={"regimen": ["arm2"], "assessment": t})


def test_phase2_endpoints_agree_with_recist_and_pfs_rules():
    t = -5.0 + np.arange(0.0, 300.0, 42.0)
    rng = np.random.default_rng(4)
    sld = 80.0 * np.exp(np.cumsum(rng.normal(-0.05, 0.15, (60, t.size)), axis=1))
    sld[:, 0] = 80.0
    grades = rng.integers(0, 5, (60, 2)).astype(float)
    tsr = rng.uniform(0.5, 1.5, 60)
    death = WeibullDeath(median_days=200.0)
    frame = phase2_endpoints(reduced_population(sld, tsr, grades, t), origin=-5.0,
                             death=death, seed=9, follow_up=280.0)
    deaths = death.sample(tsr, np.random.default_rng(9))
    rel = t + 5.0
    for i in range(60):
        seen = rel < deaths[i] if deaths[i] <= 280.0 else np.ones(rel.size, bool)
        ref = recist(rel[seen], sld[i, seen])
        row = frame.iloc[i]
        assert row["best_response"] == ref.best_response
        assert row["responder"] == (ref.best_response in ("CR", "PR"))
        died = deaths[i] if deaths[i] <= 280.0 else np.nan
        pfs = pfs_times(pd.DataFrame({"id": [0], "start": [0.0],
                                      "progression": [ref.pfs_time if ref.pfs_event else np.nan],
                                      "death": [died], "last_assessment": [rel[seen][-1]]}))
        assert row["pfs_time"] == pytest.approx(pfs["time"][0])
        assert bool(row["pfs_event"]) == bool(pfs["event"][0])
        assert row["trae_any"] == (grades[i].max() >= 3)
        if row["responder"]:
            dor = dor_times(pd.DataFrame({
                "id": [0], "response_onset": [ref.response_onset],
                "progression": [ref.pfs_time if ref.pfs_event else np.nan], "death": [died],
                "last_assessment": [rel[seen][-1]]}))
            assert (row["dor_time"], row["dor_event"]) == (dor["time"][0], dor["event"][0])
        else:
            assert np.isnan(row["dor_time"]) and np.isnan(row["dor_event"])
    assert 0 < frame["responder"].sum() < 60 and np.isfinite(frame["death"]).any()


class FixedDeaths:
    """A death model with given death times (days), in subject order."""

    def __init__(self, times):
        self.times = np.asarray(times, dtype=float)

    def sample(self, tsr, rng):
        return self.times.copy()


def test_phase2_duration_of_response_hand_made():
    """DOR (FDA 2018 guidance, "Clinical Trial Endpoints for the Approval of Cancer Drugs and
    Biologics"): "measured from the time of initial response until documented tumor
    progression or death", censored at the last adequate assessment; RECIST 1.1: PR is "at
    least a 30% decrease in the sum of diameters", confirmed "no less than 4 weeks" later, PD
    "at least a 20% increase ... from the smallest sum" and "an absolute increase of at least
    5 mm". Assessments on days 0, 56, 112, 168, 224.

    A: 100 → 60 (PR, day 56) → 60 (confirmed) → 80 (+20 mm, +33 % over 60: PD day 168): DOR 112,
       an event.
    B: 100 → 60 → 55 → 55 → 60 (+5 mm but +9 % over 55: no PD): censored at day 224, DOR 168.
    C: 100 → 90 → 95 → 100 → 110 (never −30 %; SD from day 56, past the 42-day minimum, then
       PD on day 224): best SD, no response, no DOR.
    D: 100 → 60 → 60 → 60 → 60 and death on day 130 (assessments after it dropped): DOR
       130 − 56 = 74, an event.
    The responders' DORs 74 (event), 112 (event), 168 (censored): KM S = 2/3 after day 74, 1/3
    after day 112, so the median is 112 days."""
    t = np.array([0.0, 56.0, 112.0, 168.0, 224.0])
    sld = np.array([[100, 60, 60, 80, 80], [100, 60, 55, 55, 60], [100, 90, 95, 100, 110],
                    [100, 60, 60, 60, 60]], dtype=float)
    reduced = reduced_population(sld, np.ones(4), np.zeros((4, 2)), t)
    frame = phase2_endpoints(reduced, origin=0.0, seed=0, follow_up=300.0,
                             death=FixedDeaths([np.inf, np.inf, np.inf, 130.0]))
    assert frame["best_response"].tolist() == ["PR", "PR", "SD", "PR"]
    np.testing.assert_array_equal(frame["response_onset"], [56.0, 56.0, np.nan, 56.0])
    np.testing.assert_array_equal(frame["dor_time"], [112.0, 168.0, np.nan, 74.0])
    np.testing.assert_array_equal(frame["dor_event"], [1.0, 0.0, np.nan, 1.0])
    table = dor_summary(frame)
    assert table[["regimen", "n_responders", "n_events", "median"]].values.tolist() == [
        ["arm2", 3, 2, 112.0]]


def dor_pool(responder: np.ndarray, dor_time, dor_event, regimen="arm2"):
    n = responder.size
    index = pd.MultiIndex.from_product([[regimen], [0], range(n)],
                                       names=["regimen", "draw", "subject"])
    return pd.DataFrame({"best_response": np.where(responder > 0, "PR", "SD"),
                         "responder": responder, "pfs_time": 100.0, "pfs_event": 1.0,
                         "trae_lymphocytes": 0.0, "trae_neutrophils": 0.0, "trae_any": 0.0,
                         "dor_time": np.where(responder > 0, dor_time, np.nan),
                         "dor_event": np.where(responder > 0, dor_event, np.nan)}, index=index)


def test_phase2_trials_report_the_median_dor_of_their_responders():
    """The KM median of DORs that all end with an event at 112 days is 112 in every trial with
    a responder; a trial without a responder has no DOR and is left out of the summary (with
    half the pool responding, 3-subject trials have none with probability 1/8); when every
    responder is censored the median is not reached ("undefined")."""
    responder = np.tile([1.0, 0.0], 50)
    pools = pd.concat([dor_pool(responder, 112.0, 1.0, "events"),
                       dor_pool(responder, 112.0, 0.0, "censored")])
    n_trials = 2000
    trials, summary = phase2_trials(pools, n_subjects=(3,), n_trials=n_trials, seed=4)
    events = trials[trials.regimen == "events"]
    with_responders = events["responders"] > 0
    assert (events.loc[with_responders, "dor_median"] == 112.0).all()
    assert events.loc[~with_responders, "dor_median"].isna().all()
    assert abs((~with_responders).mean() - 1 / 8) < 4 * np.sqrt(1 / 8 * 7 / 8 / n_trials)
    row = summary.set_index(["regimen", "metric"]).loc[("events", "dor_median")]
    assert (row["median"], row["lower"], row["upper"], row["undefined"]) == (112, 112, 112, 0)
    assert row["n_trials"] == with_responders.sum()
    row = summary.set_index(["regimen", "metric"]).loc[("censored", "dor_median")]
    assert row["undefined"] == 1.0 and np.isnan(row["median"])
    # a mixed pool: each trial's median is the KM median of its own responders
    mixed = dor_pool(np.ones(3), np.array([74.0, 112.0, 168.0]), np.array([1.0, 1.0, 0.0]))
    trials, _ = phase2_trials(mixed, n_subjects=(5,), n_trials=50, seed=1)
    allowed = {74.0, 112.0, 168.0}  # a KM median is an observed event time, or not reached
    assert set(trials["dor_median"].dropna()) <= allowed
    with pytest.raises(DataError, match="dor_time"):
        phase2_trials(mixed.drop(columns="dor_time"), n_subjects=(5,), n_trials=5, seed=1)


def test_phase2_orr_follows_the_binomial():
    n_pool, p = 400, 0.3
    responder = np.zeros(n_pool)
    responder[:int(p * n_pool)] = 1.0
    index = pd.MultiIndex.from_product([["arm2"], [0], range(n_pool)],
                                       names=["regimen", "draw", "subject"])
    endpoints = pd.DataFrame({"best_response": np.where(responder > 0, "PR", "SD"),
                              "responder": responder, "pfs_time": np.linspace(10, 300, n_pool),
                              "pfs_event": 1.0, "trae_lymphocytes": 0.0,
                              "trae_neutrophils": responder, "trae_any": responder,
                              "dor_time": np.where(responder > 0, 100.0, np.nan),
                              "dor_event": np.where(responder > 0, 1.0, np.nan)},
                             index=index)
    trials, summary = phase2_trials(endpoints, n_subjects=(10, 25), n_trials=1000, seed=2)
    for size in (10, 25):
        k = np.rint(trials.loc[trials.n_subjects == size, "orr"] * size).astype(int)
        observed = np.bincount(k, minlength=size + 1)
        expected = stats.binom.pmf(np.arange(size + 1), size, p) * len(k)
        keep = expected >= 5  # pool the tails for the chi-square test
        obs = np.append(observed[keep], observed[~keep].sum())
        exp = np.append(expected[keep], expected[~keep].sum())
        assert stats.chisquare(obs, exp).pvalue > 1e-3
        wrong = stats.binom.pmf(np.arange(size + 1), size, 0.4) * len(k)
        assert stats.chisquare(np.append(observed[keep], observed[~keep].sum()),
                               np.append(wrong[keep], wrong[~keep].sum()) * exp.sum()
                               / np.append(wrong[keep], wrong[~keep].sum()).sum()
                               ).pvalue < 1e-3
    row = summary.set_index(["n_subjects", "metric"]).loc[(25, "orr")]
    assert abs(row["mean"] - p) < 4 * np.sqrt(p * (1 - p) / 25 / 1000)
    assert (trials["trae_any"] == trials["orr"]).all()


# -- CAR-NK ---------------------------------------------------------------------------------------

def test_carnk_endpoints_agree_with_imwg_and_the_il6_rule():
    weeks = (2, 4, 8, 12)
    days = np.unique(np.concatenate([np.arange(0.0, 29.0), 7.0 * np.array(weeks)]))
    rng = np.random.default_rng(6)
    n = 30
    ratio = np.exp(np.cumsum(rng.normal(-0.2, 0.3, (n, days.size)), axis=1))
    ratio[:, 0] = 1.0
    il6 = 2.0 * (1 + rng.uniform(0, 14, (n, 1)) * np.exp(-0.5 * ((days - 10) / 3) ** 2))
    ds = xr.Dataset({"mprot": (("subject", "time"), 0.26 * ratio),
                     "il6_serum": (("subject", "time"), il6)}, coords={"time": days})
    dlt = carnk_dlt(ds, il6_fold=10.0)
    np.testing.assert_array_equal(dlt.values, il6.max(axis=1) >= 20.0)
    assert 0 < dlt.sum() < n
    flags = carnk_imwg(ds, weeks=weeks, baseline_g_dl=2.0)
    index = np.searchsorted(days, [0.0, *(7.0 * np.array(weeks))])
    t = days[index]
    for i in range(n):
        series = 2.0 * ratio[i, index]
        for k in range(len(weeks)):
            best = imwg(t[:k + 2], series[:k + 2], urine_m_protein=np.zeros(k + 2)).best_response
            assert flags["responder"].values[i, k] == (best in ("sCR", "CR", "VGPR", "PR"))
        full = imwg(t, series, urine_m_protein=np.zeros(t.size))
        point = full.assessments["response"]
        np.testing.assert_array_equal(flags["timepoint_responder"].values[i],
                                      point.iloc[1:].isin(["VGPR", "PR"]))
        expected = (full.dor, float(full.dor_event)) if np.isfinite(full.response_onset) \
            else (np.nan, np.nan)
        np.testing.assert_array_equal([flags["dor_time"].values[i], flags["dor_event"].values[i]],
                                      expected)
    assert flags["responder"].values.any()
    # per-patient baselines: PD needs +0.5 g/dL absolute, so a low baseline progresses later
    per_subject = np.linspace(0.6, 6.0, n)
    flags = carnk_imwg(ds.assign_coords(subject=np.arange(n)), weeks=weeks,
                       baseline_g_dl=per_subject)
    for i in (0, n - 1):
        series = per_subject[i] * ratio[i, index]
        best = imwg(t, series, urine_m_protein=np.zeros(t.size)).best_response
        assert flags["responder"].values[i, -1] == (best in ("sCR", "CR", "VGPR", "PR"))


def test_carnk_duration_of_response_hand_made():
    """IMWG (Kumar 2016): "The date of the initial test is considered as the date of response
    for evaluation of time dependent outcomes such as duration of response"; PD: "Increase of
    25% from lowest confirmed response value in ... Serum M-protein (absolute increase must be
    ≥0.5 g/dL)", laboratory PD confirmed by the next assessment and dated at the first.

    Baseline 2 g/dL, assessments at weeks 2, 4, 8, 12, 16 (days 14, 28, 56, 84, 112), relative
    M-protein 1, 0.9, 0.4, 0.4, then:
    A: 0.65, 0.7 → 1.8 (SD), 0.8 (PR, day 28), 0.8 (confirmed), 1.3 (+0.5 over the confirmed
       0.8, +62.5 %: PD, day 84), 1.4 (PD): DOR 84 − 28 = 56 days, an event.
    B: 0.4, 0.4: PR to the last assessment, DOR 112 − 28 = 84 days, censored.
    C: flat at 1: no response, no DOR. KM over A and B: S = 1/2 from day 56, median 56."""
    days = np.array([0.0, 14.0, 28.0, 56.0, 84.0, 112.0])
    ratio = np.array([[1, 0.9, 0.4, 0.4, 0.65, 0.7], [1, 0.9, 0.4, 0.4, 0.4, 0.4],
                      [1, 1, 1, 1, 1, 1]])
    ds = xr.Dataset({"mprot": (("subject", "time"), 0.026 * ratio)}, coords={"time": days})
    flags = carnk_imwg(ds, weeks=(2, 4, 8, 12, 16), baseline_g_dl=2.0)
    np.testing.assert_array_equal(flags["response_onset"].values, [28.0, 28.0, np.nan])
    np.testing.assert_array_equal(flags["dor_time"].values, [56.0, 84.0, np.nan])
    np.testing.assert_array_equal(flags["dor_event"].values, [1.0, 0.0, np.nan])
    table = dor_summary(flags)
    assert table[["n_responders", "n_events", "median"]].values.tolist() == [[2, 1, 56.0]]
    km = kaplan_meier([56.0, 84.0], [True, False])
    assert km.median()[0] == 56.0


def test_mprotein_baselines_are_measurable_and_lognormal():
    """Assumption 5: baselines log-normal (median 2 g/dL, log-SD 0.6), all ≥ 0.5 g/dL."""
    from cellpkpd.trial_simulation import MPROTEIN_BASELINE

    values = MPROTEIN_BASELINE.sample(20_000, np.random.default_rng(0))
    assert values.min() >= 0.5
    truncated = stats.truncnorm((np.log(0.5) - np.log(2.0)) / 0.6, np.inf, loc=np.log(2.0),
                                scale=0.6)
    assert stats.kstest(np.log(values), truncated.cdf).pvalue > 1e-3


# -- the simulators, wired to a stand-in simulate_population ------------------------------------

def fake_population(model, source, regimens, n, seed, *, times, outputs, reduce,
                    residual_error, **options):
    """Closed-form stand-in for simulate_population: per subject, lymphocytes and ANC dip
    after each dose in proportion to the dose, SLD and M-protein decay, IL-6 bumps; the reduce
    is applied per chunk of 5 subjects, as simulate_population does."""
    rng = np.random.default_rng(seed)
    draws = options.get("draws") or 1
    t = np.asarray(times)
    names = list(regimens)
    base = rng.uniform(0.5, 1.5, (draws, n, 1))
    data = {o: np.zeros((len(names), draws, n, t.size)) for o in outputs}
    for r, name in enumerate(names):
        doses = regimens[name].doses
        amount = max(d.amount for d in doses)
        dip = np.zeros(t.size)
        for d in doses:
            for k in range(d.count):
                dip = np.maximum(dip, np.exp(-0.5 * ((t - d.time - k * (d.every or 0) - 12)
                                                     / 8) ** 2))
        depth = np.clip(np.log10(amount) / 7.0 * base, 0, 0.95)
        values = {"cd4": 500 * (1 - depth * dip), "cd8": 300 * (1 - depth * dip),
                  "nk": 200 * (1 - depth * dip), "anc": 3.0 * (1 - depth * dip),
                  "sld": 80 * np.exp(-0.004 * base * np.clip(t + 5, 0, None)),
                  "il6_serum": 2 + 30 * depth * dip,
                  "mprot": 0.26 * np.exp(-0.01 * base * np.clip(t, 0, None))}
        for o in outputs:
            data[o][r] = values[o]
    dims = ("regimen", "draw", "subject", "time")
    full = xr.Dataset({o: (dims, v) for o, v in data.items()},
                      coords={"regimen": names, "draw": np.arange(draws), "subject": np.arange(n),
                              "time": t})
    full["other_lymph"] = (("draw", "subject"), np.full((draws, n), 100.0))
    if residual_error:
        noise = np.exp(0.1 * np.random.default_rng(seed + 1).standard_normal(
            full["sld"].shape[1:]))
        full["sld_obs"] = full["sld"] * noise
    fake_population.calls.append(dict(times=t, outputs=outputs, full=full,
                                      residual_error=residual_error))
    parts = [reduce(full.isel(subject=slice(i, i + 5))) for i in range(0, n, 5)]
    return xr.concat(parts, dim="subject")


@pytest.fixture
def stand_in(monkeypatch):
    import cellpkpd.trial_simulation as ts

    fake_population.calls = []
    monkeypatch.setattr(ts, "simulate_population", fake_population)
    return fake_population.calls


def test_simulate_msc_arm1_wiring(stand_in):
    from cellpkpd.trial_simulation import simulate_msc_arm1

    sim = simulate_msc_arm1("defaults", n=20, draws=3, n_trials=400, seed=1, infusions=2,
                            interval=35.0)
    call = stand_in[0]
    assert call["times"][0] == -1.0 and call["times"][-1] == 35.0 + 35.0
    assert not call["residual_error"] and set(call["outputs"]) == {"cd4", "cd8", "nk", "anc"}
    direct = msc_intolerance(call["full"], [0.0, 35.0])
    np.testing.assert_array_equal(sim.ti.values, direct.values)
    assert sim.p_ti["dose"].tolist() == [2e6, 6e5, 2e5, 6e4]
    assert 0 < sim.p_ti["mean"].iloc[0] and sim.p_ti["mean"].is_monotonic_decreasing
    oc = sim.operating_characteristics
    assert oc["p_select"].sum() == pytest.approx(1.0)
    assert oc["level"].tolist() == [-1, 0, 1, 2, 3]
    assert sim.expected_subjects == sim.trials.subjects.mean()


def test_simulate_msc_phase2_wiring(stand_in):
    from cellpkpd.trial_simulation import simulate_msc_phase2

    sim = simulate_msc_phase2("defaults", n=15, seed=2, n_subjects=(10,), n_trials=50,
                              death=None, follow_up=300.0)
    full = stand_in[0]["full"]
    assessments = -5.0 + np.arange(0.0, 300.0 + 1e-9, 42.0)
    for s in range(15):
        series = full["sld_obs"].sel(time=assessments).values[0, 0, s]
        best = recist(assessments + 5.0, series).best_response
        assert sim.endpoints["best_response"].iloc[s] == best
    assert sim.summary["metric"].tolist()[:4] == ["orr", "pfs_median", "pfs_at_landmark",
                                                  "dor_median"]
    assert sim.dor["n_responders"].iloc[0] == np.isfinite(sim.endpoints["dor_time"]).sum()
    assert set(sim.population["event"]) == {"responder", "trae_lymphocytes",
                                            "trae_neutrophils", "trae_any"}


def test_simulate_carnk_wiring(stand_in):
    from cellpkpd.trial_simulation import simulate_carnk

    sim = simulate_carnk("defaults", doses=(1e8, 3e9), n=10, seed=3, weeks=(2, 4, 8))
    call = stand_in[0]
    full = call["full"]
    np.testing.assert_array_equal(sim.flags["dlt"].values, carnk_dlt(full).values)
    assert 7.0 * 8 in call["times"] and call["times"][0] == 0.0
    assert sim.dlt["mean"].iloc[1] >= sim.dlt["mean"].iloc[0]
    assert sorted(sim.orr["week"].unique()) == [2, 4, 8]
    assert sim.dor["regimen"].tolist() == list(sim.flags["regimen"].values)


# -- the real model, once -------------------------------------------------------------------------

def test_msc_arm1_on_the_model_agrees_with_the_endpoint_functions():
    """msc_ifna monotherapy (explicit solver: no chemotherapy, mildly stiff, cheap to compile):
    the TI of the reduced run equals the endpoint functions applied to the full trajectories."""
    import numpyro.distributions as dist

    import cellpkpd as cp
    from cellpkpd.trial_simulation import simulate_msc_arm1
    from cellpkpd.virtual_population import simulate_population

    n = 8
    priors = {"emax_marg": dist.LogNormal(np.log(2.5), 0.2),
              "other_lymph": dist.LogNormal(np.log(120.0), 0.2)}
    options = dict(iiv={"s_ifn": 0.5, "k_dl": 0.5}, draws=1,
                   covariates={"WT": 70.0, "CD40": 250.0, "CD80": 160.0, "NK0": 100.0},
                   solver=cp.Solver("tsit5", rtol=1e-6, atol=1e-9), chunk=n)
    sim = simulate_msc_arm1(priors, n=n, n_trials=100, seed=7, doses=(2e6, 2e5), **options)
    times = np.arange(-1.0, 36.0)
    full = simulate_population("msc_ifna", priors,
                               {f"{d:g}": cp.regimens.msc_ifna_monotherapy(d) for d in (2e6, 2e5)},
                               n, 7, times=times, outputs=["cd4", "cd8", "nk", "anc"],
                               residual_error=False, **options)
    lymph = (full.cd4 + full.cd8 + full.nk + full.other_lymph) / 1000.0
    for r in range(2):
        for s in range(n):
            labs = {"lymphocytes": lymph.values[r, 0, s], "neutrophils": full.anc.values[r, 0, s]}
            assert sim.ti.values[r, 0, s] == _ti(times, labs)
    assert 2 <= sim.ti.values.sum() <= sim.ti.size - 2  # both outcomes occur


def _ti(times, labs):
    episodes = pd.concat([grade_episodes(times, v, lab=lab, min_grade=3)
                          for lab, v in labs.items()], ignore_index=True)
    return bool(treatment_intolerance(episodes, [0.0])["intolerance"].any())


def test_phase2_reduce_reports_a_negative_sld_draw_as_zero():
    from cellpkpd.trial_simulation import phase2_reduce

    t = np.arange(-6.0, 90.0)  # t[k] = k - 6
    sld = np.linspace(80.0, 2.0, t.size)[None, None, None]
    obs = sld * 1.05
    obs[..., 85] = -1.5  # day 79: the additive error took the observation below 0 mm
    anc = np.full(t.size, 3.0)
    anc[20:25] = 0.4  # grade 4 neutropenia (days 14-18), inside the lab window
    dims = ("regimen", "draw", "subject", "time")
    chunk = xr.Dataset({"sld": (dims, sld), "sld_obs": (dims, obs),
                        "cd4": (dims, np.full(sld.shape, 700.0)),
                        "cd8": (dims, np.full(sld.shape, 400.0)),
                        "nk": (dims, np.full(sld.shape, 200.0)),
                        "anc": (dims, anc[None, None, None])},
                       coords={"regimen": ["arm2"], "time": t})
    out = phase2_reduce(origin=-5.0, assessments=[-5.0, 37.0, 79.0], landmark=56.0,
                        lab_window=(-5.0, 30.0))(chunk)
    np.testing.assert_array_equal(out["sld_assessed"].values.ravel(),
                                  [obs[..., 1].item(), obs[..., 43].item(), 0.0])
    assert out["tsr"].item() == pytest.approx(sld[..., 57].item() / sld[..., 1].item())
    assert out["worst_grade_neutrophils"].item() == 4
    assert out["worst_grade_lymphocytes"].item() == 0
