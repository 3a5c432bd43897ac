import time

import numpy as np
import pytest

from cellpkpd.trials import PROTOCOL_DOSES, arm1_exact, simulate_arm1

N = 20_000
P4 = (0.5, 0.3, 0.2, 0.1)


def within_4_sigma(estimate, p, n):
    return np.all(np.abs(np.asarray(estimate) - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-12)


def test_de_escalation_from_first_dose_matches_binomial():
    p = 0.2
    sim = simulate_arm1([p, 0.0, 0.0, 0.0], n_trials=N, seed=11)
    de_escalated = np.mean(sim.selected_level != 0)
    assert within_4_sigma(de_escalated, 1 - (1 - p) ** 3, N)
    first = sim.per_dose.iloc[0]
    assert first["trials_treated"] == N and within_4_sigma(first["observed_ti_rate"], p, 3 * N)


@pytest.mark.parametrize("as_callable", [False, True])
def test_selection_matches_exact(as_callable):
    if as_callable:
        def intolerance(level, n_subjects, rng):
            return rng.random(n_subjects) < P4[level]
    else:
        intolerance = dict(zip(PROTOCOL_DOSES, P4, strict=True))
    sim = simulate_arm1(intolerance, n_trials=N, seed=3)
    exact = arm1_exact(P4)
    assert sim.selection["level"].tolist() == [-1, 0, 1, 2, 3]
    assert within_4_sigma(sim.selection["probability"], exact["probability"].to_numpy(), N)
    reach = np.cumprod([1.0, *(1 - (1 - np.array(P4[:-1])) ** 3)])  # P(cohort k is treated)
    assert sim.expected_subjects == pytest.approx(3 * reach.sum(), rel=0.02)
    assert sim.subjects_distribution.index.tolist() == [3, 6, 9, 12]
    assert sim.subjects_distribution.sum() == pytest.approx(1.0)


def test_exact_probabilities():
    exact = arm1_exact(P4)["probability"].to_numpy()
    q = 1 - (1 - np.array(P4)) ** 3
    assert exact == pytest.approx([np.prod(q), 1 - q[0], q[0] * (1 - q[1]),
                                   q[0] * q[1] * (1 - q[2]), q[0] * q[1] * q[2] * (1 - q[3])])
    assert exact.sum() == pytest.approx(1.0)
    all_ti = simulate_arm1([1.0] * 4, n_trials=10, seed=0)
    assert (all_ti.selected_level == -1).all() and (all_ti.subjects == 12).all()


def test_same_seed_same_result_and_speed():
    start = time.perf_counter()
    a = simulate_arm1(P4, n_trials=1000, seed=42)
    assert time.perf_counter() - start < 1.0
    b = simulate_arm1(P4, n_trials=1000, seed=np.random.default_rng(42))
    np.testing.assert_array_equal(a.ti_counts, b.ti_counts)
    c = simulate_arm1(P4, n_trials=1000, seed=43)
    assert not np.array_equal(a.ti_counts, c.ti_counts)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"intolerance": [1.2, 0, 0, 0]}, r"\[0, 1\]"),
    ({"intolerance": [-0.1, 0, 0, 0]}, r"\[0, 1\]"),
    ({"intolerance": [0.1, 0.1]}, "one TI probability per dose level"),
    ({"intolerance": [0.1], "doses": [-2e6]}, "positive"),
    ({"intolerance": [], "doses": []}, "empty"),
    ({"intolerance": [0.1, 0.1], "doses": [6e5, 2e6]}, "de-escalate"),
    ({"intolerance": {2e6: 0.1}}, "no probability for dose"),
    ({"intolerance": P4, "cohort_size": 0}, "cohort_size"),
    ({"intolerance": P4, "n_trials": 2.5}, "n_trials"),
    ({"intolerance": lambda level, n, rng: np.zeros(n + 1, bool)}, "expected bool of shape"),
])
def test_bad_input(kwargs, message):
    kwargs = {"n_trials": 10, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        simulate_arm1(**kwargs)


def test_cohort_outcomes_give_the_same_trials_as_the_callable():
    rng = np.random.default_rng(8)
    outcomes = rng.random((500, 4, 3)) < np.array(P4)[None, :, None]
    running = {"trials": np.arange(500)}

    def intolerance(level, n_subjects, rng):
        flags = outcomes[running["trials"], level]
        running["trials"] = running["trials"][flags.any(axis=1)]
        return flags.ravel()

    by_callable = simulate_arm1(intolerance, n_trials=500, seed=0)
    by_array = simulate_arm1(outcomes, n_trials=500, seed=0)
    for name in ("selected_level", "cohorts", "subjects", "ti_counts"):
        np.testing.assert_array_equal(getattr(by_array, name), getattr(by_callable, name))
    with pytest.raises(ValueError, match="cohort outcomes"):
        simulate_arm1(outcomes[:, :2], n_trials=500, seed=0)
