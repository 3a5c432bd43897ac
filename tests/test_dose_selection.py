"""Dose selection: the probability table against binomial/beta quantiles, the recommendation
rule on hand-built cases, the events against the endpoint functions, bad input."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from scipy import stats  # noqa: E402

from cellpkpd.dose_selection import (  # noqa: E402
    DoseSelection,
    Event,
    Limit,
    Target,
    best_response,
    candidate_regimens,
    exceeds,
    falls_below,
)
from cellpkpd.endpoints import recist  # noqa: E402
from cellpkpd.regimens import Dose, regimen  # noqa: E402

DIMS = ("regimen", "draw", "subject")


def named(name):
    """A placeholder event: from_events reads the flags by name."""
    return Event(name, lambda population, regimens: None)


def flags_with_fractions(fractions: np.ndarray, n_subjects: int) -> np.ndarray:
    """(regimen, draw, subject) flags with exactly round(f·n) events per regimen and draw."""
    k = np.rint(np.asarray(fractions) * n_subjects).astype(int)
    return np.arange(n_subjects)[None, None, :] < k[..., None]


def events_dataset(names, **flags):
    return xr.Dataset({k: (DIMS, v) for k, v in flags.items()}, coords={"regimen": names})


def candidates(rows):
    return pd.DataFrame(rows)


# -- the table ----------------------------------------------------------------------------------

def test_intervals_are_binomial_quantiles_when_every_draw_has_the_same_probability():
    rng = np.random.default_rng(0)
    n_draws, n_sub = 10_000, 40
    p = np.array([0.35, 0.45])
    flags = rng.random((2, n_draws, n_sub)) < p[:, None, None]
    table = candidates([{"candidate": "a", "dose": 1.0}, {"candidate": "b", "dose": 2.0}])
    safe = flags_with_fractions(np.zeros((2, n_draws)), n_sub)
    result = DoseSelection.from_events(
        events_dataset(["a", "b"], eff=flags, tox=safe), table,
        efficacy=Target(named("eff"), 0.2), safety=Limit(named("tox"), 0.5))
    for i, prob in enumerate(p):
        binom = stats.binom(n_sub, prob)
        for q, column in ((0.05, "p_eff_lower"), (0.5, "p_eff"), (0.95, "p_eff_upper")):
            k = binom.ppf(q)
            # sharp only where the CDF steps away from q by more than 4 Monte Carlo SE
            margin = 4 * np.sqrt(q * (1 - q) / n_draws)
            assert binom.cdf(k) - q > margin and q - binom.cdf(k - 1) > margin
            assert result.table[column][i] == k / n_sub
        mean = result.table["p_eff_mean"][i]
        assert abs(mean - prob) < 4 * np.sqrt(prob * (1 - prob) / (n_sub * n_draws))


def test_intervals_follow_the_beta_distribution_of_the_draws():
    rng = np.random.default_rng(1)
    a, b, n_draws, n_sub = 4.0, 8.0, 3000, 2000
    per_draw = rng.beta(a, b, n_draws)
    flags = rng.random((1, n_draws, n_sub)) < per_draw[None, :, None]
    table = candidates([{"candidate": "only", "dose": 1.0}])
    result = DoseSelection.from_events(
        events_dataset(["only"], tox=flags, eff=flags), table, credible=0.8,
        efficacy=Target(named("eff"), 0.0), safety=Limit(named("tox"), 0.5))
    row = result.table.iloc[0]
    beta = stats.beta(a, b)
    # the interval is over draws; each draw adds binomial noise sd ≈ sqrt(pq/n) ≈ 0.01
    assert row["p_tox_lower"] == pytest.approx(beta.ppf(0.1), abs=0.02)
    assert row["p_tox_upper"] == pytest.approx(beta.ppf(0.9), abs=0.02)
    assert row["p_tox"] == pytest.approx(beta.median(), abs=0.02)
    assert row["p_tox_draws_ok"] == pytest.approx(beta.cdf(0.5), abs=0.03)
    assert result.table.attrs["credible"] == 0.8


def test_a_criterion_is_met_by_the_fraction_of_draws():
    # 20 draws; safety P(tox) ≤ 0.3: candidate x satisfies it in 17 draws (85%), y in 15
    fractions = np.full((2, 20), 0.2)
    fractions[0, :3] = 0.5
    fractions[1, :5] = 0.5
    tox = flags_with_fractions(fractions, 10)
    eff = flags_with_fractions(np.full((2, 20), 0.6), 10)
    table = candidates([{"candidate": "x", "dose": 1.0}, {"candidate": "y", "dose": 2.0}])
    result = DoseSelection.from_events(
        events_dataset(["x", "y"], eff=eff, tox=tox), table,
        efficacy=Target(named("eff"), 0.5), safety=Limit(named("tox"), 0.3, confidence=0.8))
    assert result.table["p_tox_draws_ok"].tolist() == [0.85, 0.75]
    assert result.table["meets_tox"].tolist() == [True, False]
    assert result.recommended == "x"


# -- the recommendation rule -------------------------------------------------------------------

CASE = [  # candidate, dose, infusions, P(efficacy), P(safety event)
    ("low", 2e5, 1, 0.2, 0.0),
    ("mid", 6e5, 1, 0.4, 0.1),
    ("high", 2e6, 1, 0.6, 0.2),
    ("mid x4", 6e5, 4, 0.7, 0.5),
    ("mid x2", 6e5, 2, 0.5, 0.2),
]


def decide(rows, *, target=0.3, limit=0.3, **kwargs):
    names = [r[0] for r in rows]
    eff = flags_with_fractions(np.array([r[3] for r in rows])[:, None].repeat(5, 1), 10)
    tox = flags_with_fractions(np.array([r[4] for r in rows])[:, None].repeat(5, 1), 10)
    table = candidates([{"candidate": r[0], "dose": r[1], "infusions": r[2]} for r in rows])
    return DoseSelection.from_events(events_dataset(names, eff=eff, tox=tox), table,
                                     efficacy=Target(named("eff"), target),
                                     safety=Limit(named("tox"), limit), **kwargs)


def test_lowest_rule_picks_the_least_cumulative_dose_meeting_both():
    result = decide(CASE)
    assert result.recommended == "mid"
    assert result.table.set_index("candidate")["recommended"].to_dict() == {
        "low": False, "mid": True, "high": False, "mid x4": False, "mid x2": False}
    assert decide(CASE[::-1]).recommended == "mid"  # not the order given
    assert decide(CASE, target=0.45).recommended == "mid x2"  # 1.2e6 < 2e6
    assert decide(CASE, target=0.45, order_by="dose").recommended == "mid x2"


def test_lowest_rule_breaks_ties_by_efficacy_and_most_effective_rule():
    tied = [("a", 6e5, 2, 0.4, 0.1), ("b", 1.2e6, 1, 0.5, 0.1), ("c", 4e5, 3, 0.45, 0.1)]
    assert decide(tied).recommended == "b"
    assert decide(CASE, rule="most_effective").recommended == "high"
    assert decide(CASE, rule="most_effective", limit=0.5).recommended == "mid x4"


def test_no_candidate_qualifies_says_so():
    with pytest.warns(UserWarning, match="no candidate meets"):
        result = decide(CASE, target=0.65)
    assert result.recommended is None
    assert not result.table["recommended"].any()
    assert "efficacy eff: met by ['mid x4']" in result.message
    assert "no recommendation" in str(result)


def test_plot_has_one_panel_per_criterion():
    fig = decide(CASE).plot()
    assert len(fig.axes) == 2
    assert fig.axes[0].get_ylabel().startswith("probability")
    import matplotlib.pyplot as plt

    plt.close(fig)


# -- events ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def population():
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 127.0, 1.0)
    shape = (2, 3, 8, t.size)
    conc = rng.lognormal(0.0, 0.5, shape[:-1])[..., None] * np.exp(-0.05 * t)
    sld = 80.0 * np.exp(np.cumsum(rng.normal(-0.004, 0.03, shape), axis=-1))
    sld[..., 0] = 80.0
    return xr.Dataset({"cp": ((*DIMS, "time"), conc), "sld": ((*DIMS, "time"), sld * 1.02),
                       "sld_obs": ((*DIMS, "time"), sld)},
                      coords={"regimen": ["r1", "r2"], "time": t})


def test_threshold_events_against_numpy(population):
    t = population["time"].values
    cp = population["cp"].values
    regs = {}
    np.testing.assert_array_equal(exceeds("cp", 1.0)(population, regs).values,
                                  cp.max(-1) > 1.0)
    auc = exceeds("cp", 10.0, statistic="auc", within=(0, 28))(population, regs)
    window = t <= 28
    np.testing.assert_array_equal(auc.values, np.trapezoid(cp[..., window], t[window]) > 10.0)
    nadir = falls_below("cp", 0.1, within=(14, 56))(population, regs)
    window = (t >= 14) & (t <= 56)
    np.testing.assert_array_equal(nadir.values, cp[..., window].min(-1) < 0.1)
    assert exceeds("cp", 1.0).name == "cp_max_gt_1"
    assert exceeds("cp", 0.5, name="high").name == "high"


def test_best_response_event_agrees_with_recist(population):
    regs = {"r1": regimen(Dose(1.0, "mg", 1, time=0.0)),
            "r2": regimen(Dose(1.0, "mg", 1, time=14.0))}
    flags = best_response("PR", every=42.0)(population, regs)
    assert flags.dims == DIMS
    sld = population["sld_obs"]
    for name, first in (("r1", 0.0), ("r2", 14.0)):
        times = np.arange(first, 126.0 + 1e-9, 42.0)
        for d in range(3):
            for s in range(8):
                series = sld.sel(regimen=name, time=times).values[d, s]
                best = recist(times - first, series).best_response
                assert flags.sel(regimen=name).values[d, s] == (best in ("CR", "PR"))


# -- bad input --------------------------------------------------------------------------------

def test_candidates_become_named_regimens():
    table, regs = candidate_regimens([{"dose": 2e6, "infusions": 2, "interval": 35},
                                      {"dose": 6e5, "name": "low"}])
    assert table["candidate"].tolist() == ["dose=2e+06, infusions=2, interval=35", "low"]
    assert regs["low"].doses[0].amount == 6e5 and regs["low"].doses[0].count == 1


@pytest.mark.parametrize(("bad", "message"), [
    ([], "candidates is empty"),
    ([{"dose": 2e6, "cycles": 3}], r"candidate 1 has unknown field\(s\) \['cycles'\]"),
    ([{"dose": 2e6}, {"dose": 2e6, "infusions": 5}], "candidate 2 .*1-4 infusions"),
    ([{"dose": 2e6}, {"dose": 2e6}], "two candidates are named"),
])
def test_bad_candidates(bad, message):
    with pytest.raises(ValueError, match=message):
        candidate_regimens(bad)


def test_bad_criteria_and_options():
    with pytest.raises(ValueError, match=r"Target probability must be a probability in \[0, 1\]"):
        Target(named("eff"), 1.3)
    with pytest.raises(ValueError, match=r"Limit probability .* got -0.1"):
        Limit(named("tox"), -0.1)
    with pytest.raises(ValueError, match="confidence"):
        Limit(named("tox"), 0.3, confidence=0.0)
    with pytest.raises(TypeError, match="needs an Event"):
        Target("response", 0.3)
    with pytest.raises(ValueError, match="statistic must be one of"):
        exceeds("cp", 1.0, statistic="peak")
    with pytest.raises(ValueError, match="identifier"):
        Event("P(TI)", lambda p, r: None)
    with pytest.raises(ValueError, match="rule must be one of"):
        decide(CASE, rule="highest")
    with pytest.raises(ValueError, match="credible"):
        decide(CASE, credible=90)
    with pytest.raises(ValueError, match="order_by='weight' is not a candidate field"):
        decide(CASE, order_by="weight")
    with pytest.raises(ValueError, match="used by more than one criterion"):
        DoseSelection.from_events(events_dataset(["a"], eff=np.ones((1, 1, 1), bool)),
                                  candidates([{"candidate": "a"}]),
                                  efficacy=Target(named("eff"), 0.1),
                                  safety=Limit(named("eff"), 0.1))
    with pytest.raises(ValueError, match="efficacy is empty"):
        DoseSelection.from_events(events_dataset(["a"], eff=np.ones((1, 1, 1), bool)),
                                  candidates([{"candidate": "a"}]), efficacy=[],
                                  safety=Limit(named("eff"), 0.1))


# -- through simulate_population: pk_1cmt_iv, where P(Cmax > x) is known in closed form -------

V, OMEGA = 20.0, 0.3  # pk_1cmt_iv's default volume (L); IIV on v
DOSES = (50.0, 100.0, 200.0)  # mg IV bolus: Cmax = dose / V


def p_cmax_above(dose, x, log_v=None):
    log_v = np.log(V) if log_v is None else log_v
    return stats.norm.cdf((np.log(dose / x) - log_v) / OMEGA)


@pytest.fixture(scope="module")
def bolus_candidates():
    return {f"{d:g} mg": regimen(Dose(d, "mg", "central")) for d in DOSES}


def select(bolus_candidates, source, **kwargs):
    from cellpkpd.dose_selection import select_dose

    return select_dose(source, bolus_candidates, model="pk_1cmt_iv", iiv={"v": OMEGA},
                       times=np.array([0.0, 1.0]), chunk=512,
                       efficacy=Target(exceeds("cp", 5.0), 0.4),
                       safety=Limit(exceeds("cp", 15.0), 0.05), **kwargs)


def test_select_dose_probabilities_match_the_lognormal_volume(bolus_candidates):
    n = 2048
    result = select(bolus_candidates, "defaults", n=n, seed=3)
    table = result.table.set_index("candidate")
    for dose in DOSES:
        for x, column in ((5.0, "p_cp_max_gt_5"), (15.0, "p_cp_max_gt_15")):
            p = p_cmax_above(dose, x)
            assert abs(table.loc[f"{dose:g} mg", column] - p) <= 4 * np.sqrt(p * (1 - p) / n
                                                                             ) + 1e-3
    # efficacy ≥ 0.4 at 100 and 200 mg (P = 0.5, 0.99); safety P(Cmax > 15) ≤ 0.05 fails at
    # 200 mg (0.088): the only candidate meeting both is 100 mg
    assert table["meets_efficacy"].tolist() == [False, True, True]
    assert table["meets_safety"].tolist() == [True, True, False]
    assert result.recommended == "100 mg"


def test_select_dose_credible_interval_follows_the_prior(bolus_candidates):
    import numpyro.distributions as dist

    prior_sd = 0.2
    result = select(bolus_candidates, {"v": dist.LogNormal(np.log(V), prior_sd)}, n=512,
                    draws=400, seed=4, credible=0.9)
    row = result.table.set_index("candidate").loc["100 mg"]
    # per draw P = Φ((log(100/5) − log V_d)/ω), log V_d ~ N(log V, prior_sd): its quantiles
    for q, column in ((0.05, "p_cp_max_gt_5_lower"), (0.5, "p_cp_max_gt_5"),
                      (0.95, "p_cp_max_gt_5_upper")):
        expected = p_cmax_above(100.0, 5.0, np.log(V) + prior_sd * stats.norm.ppf(1 - q))
        assert row[column] == pytest.approx(expected, abs=0.05)
    # fraction of draws with P ≥ 0.4: P(Z ≤ −Φ⁻¹(0.4)·ω/prior_sd) = Φ(0.38) = 0.648
    ok = stats.norm.cdf(-stats.norm.ppf(0.4) * OMEGA / prior_sd)
    assert row["p_cp_max_gt_5_draws_ok"] == pytest.approx(ok, abs=0.08)


def test_select_dose_needs_a_model(bolus_candidates):
    from cellpkpd.dose_selection import select_dose

    with pytest.raises(ValueError, match="needs model="):
        select_dose("defaults", bolus_candidates, efficacy=Target(exceeds("cp", 5.0), 0.4),
                    safety=Limit(exceeds("cp", 15.0), 0.05))
