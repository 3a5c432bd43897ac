"""NPDE: a case worked by hand, the N(0, 1) law when observations come from the simulated
model (and its failure when they do not), BLQ imputation, and the GOF panels that plot it."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cellpkpd.report import gof_figure
from cellpkpd.report.npde import add_npde, npde

# Five simulated vectors of two observations: mean (3, 3); deviations (-2,-1), (-1,-2), (0,2),
# (1,0), (2,1), so (divisor K - 1 = 4) var = 10/4 = 2.5 for both and cov = 6/4 = 1.5.
SIMS = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [4.0, 3.0], [5.0, 4.0]])


def test_two_observations_five_replicates_by_hand():
    # Cholesky of [[2.5, 1.5], [1.5, 2.5]]: l11 = sqrt(2.5), l21 = 1.5/sqrt(2.5),
    # l22 = sqrt(2.5 - 1.5²/2.5) = sqrt(1.6). Forward substitution, for a deviation (d1, d2):
    # z1 = d1/sqrt(2.5), z2 = (d2 - l21·z1)/sqrt(1.6) = (d2 - 0.6·d1)/sqrt(1.6).
    l11, l21, l22 = math.sqrt(2.5), 1.5 / math.sqrt(2.5), math.sqrt(1.6)
    dev = SIMS - 3.0
    z1 = dev[:, 0] / l11  # -1.265, -0.632, 0, 0.632, 1.265
    z2 = (dev[:, 1] - l21 * z1) / l22  # (0.2, -1.4, 2, -0.6, -0.2)/sqrt(1.6)
    observed = np.array([3.5, 3.6])
    o1 = 0.5 / l11  # 0.316
    o2 = (0.6 - l21 * o1) / l22  # (0.6 - 0.3)/sqrt(1.6) = 0.237
    # Ranks by hand: z1 below 0.316: -1.265, -0.632, 0 -> 3/5; z2 below 0.237: all but 2/sqrt(1.6)
    # -> 4/5. Without decorrelation: column 1 below 3.5: 1, 2, 3 -> 3/5; column 2 below 3.6:
    # 2, 1, 3 -> 3/5.
    assert [np.mean(z1 < o1), np.mean(z2 < o2)] == [0.6, 0.8]
    result = npde(observed, SIMS)
    np.testing.assert_allclose(result.PDE, [0.6, 0.8], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.NPDE, stats.norm.ppf([0.6, 0.8]), rtol=1e-12)
    np.testing.assert_allclose(result.PD, [0.6, 0.6], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.NPD, stats.norm.ppf([0.6, 0.6]), rtol=1e-12)
    assert result.K.tolist() == [5, 5]

    # Above every replicate in both decorrelated coordinates: pde 1 -> 1 - 1/(2K) = 0.9; below
    # every one: 0 -> 1/(2K) = 0.1.
    high = npde([10.0, 10.0], SIMS)  # z = (4.43, (7 - 4.2)/sqrt(1.6) = 2.21)
    np.testing.assert_allclose(high.PDE, [0.9, 0.9], atol=1e-12)
    low = npde([-10.0, -10.0], SIMS)
    np.testing.assert_allclose(low.NPDE, stats.norm.ppf([0.1, 0.1]), rtol=1e-12)


def test_groups_are_decorrelated_separately_and_failed_replicates_left_out():
    sims = np.hstack([SIMS, SIMS[::-1] * 10.0])  # group b: the same vectors, scaled and shuffled
    sims = np.vstack([sims, [np.nan, 1.0, 2.0, 3.0]])  # a failed solve, in group a only
    result = npde([3.5, 3.6, 35.0, 36.0], sims, ["a", "a", "b", "b"])
    np.testing.assert_allclose(result.PDE[:2], [0.6, 0.8], atol=1e-12)  # as worked by hand
    alone = npde([35.0, 36.0], sims[:, 2:])
    np.testing.assert_allclose(result.PDE[2:], alone.PDE, atol=1e-12)
    assert result.K.tolist() == [5, 5, 6, 6]


def correlated_population(rng, n_subjects, n_rep, shift=0.0):
    """Per subject its own mean; 4 observations with an AR(1) correlation of 0.8 and unequal
    SDs. Observations from the same law as the replicates, shifted by ``shift`` SDs."""
    sd = np.array([1.0, 3.0, 0.5, 2.0])
    lag = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    cov = 0.8**lag * np.outer(sd, sd)
    chol = np.linalg.cholesky(cov)
    mean = rng.normal(10.0, 3.0, (n_subjects, 4))
    obs = mean + rng.standard_normal((n_subjects, 4)) @ chol.T + shift * sd
    sims = mean + rng.standard_normal((n_rep, n_subjects, 4)) @ chol.T
    return obs.reshape(-1), sims.reshape(n_rep, -1), np.repeat(np.arange(n_subjects), 4)


@pytest.fixture(scope="module")
def correlated():
    obs, sims, ids = correlated_population(np.random.default_rng(11), 300, 200)
    return npde(obs, sims, ids), obs, sims, ids


def test_npde_are_standard_normal_and_independent_under_the_model(correlated):
    result, *_ = correlated
    z = result.NPDE.to_numpy()
    assert stats.kstest(z, "norm").pvalue > 0.01
    assert abs(z.mean()) < 0.12 and abs(z.var() - 1) < 0.15  # 4 SE at 1200 values
    # Decorrelated within a subject, where the npd keep the 0.8 correlation.
    pairs = lambda v: np.corrcoef(v.reshape(-1, 4)[:, :3].ravel(),  # noqa: E731
                                  v.reshape(-1, 4)[:, 1:].ravel())[0, 1]
    assert abs(pairs(z)) < 0.1
    assert pairs(result.NPD.to_numpy()) > 0.6


def test_npde_detect_observations_from_a_shifted_model():
    obs, sims, ids = correlated_population(np.random.default_rng(11), 300, 200, shift=0.5)
    z = npde(obs, sims, ids).NPDE.to_numpy()
    assert stats.kstest(z, "norm").pvalue < 0.01 and z.mean() > 0.15


def censored_population(rng, n_subjects, n_rep, lloq):
    """3 observations per subject, correlation 0.5, about a third below ``lloq``."""
    cov = 0.5 + 0.5 * np.eye(3)
    chol = np.linalg.cholesky(cov)
    mean = rng.normal(0.0, 0.3, (n_subjects, 3))
    obs = (mean + rng.standard_normal((n_subjects, 3)) @ chol.T).reshape(-1)
    sims = (mean + rng.standard_normal((n_rep, n_subjects, 3)) @ chol.T).reshape(n_rep, -1)
    blq = obs < lloq
    return np.where(blq, np.nan, obs), sims, np.repeat(np.arange(n_subjects), 3), blq


def test_blq_observations_are_imputed_from_the_predictive_distribution():
    lloq = -0.45
    obs, sims, ids, blq = censored_population(np.random.default_rng(5), 400, 200, lloq)
    assert 0.25 < blq.mean() < 0.4
    result = npde(obs, sims, ids, blq=blq, lloq=lloq, seed=3)
    z = result.NPDE.to_numpy()
    assert np.isfinite(z).all()
    assert stats.kstest(z, "norm").pvalue > 0.01 and abs(z.mean()) < 0.1
    # Leaving the BLQ rows out instead keeps only the upper part: clearly biased.
    assert z[~blq].mean() > 0.3
    # A BLQ row's pd is drawn below the fraction of replicates under the LLOQ, and it is
    # imputed below the LLOQ; the other rows keep their observations.
    p_loq = (sims < lloq).mean(axis=0)
    assert (result.PD[blq] <= np.maximum(p_loq[blq], 1 / 400) + 1e-12).all()
    assert (result.DV_IMPUTED[blq] < lloq).all()
    np.testing.assert_array_equal(result.DV_IMPUTED[~blq], obs[~blq])
    # The draws come from the seed only.
    again = npde(obs, sims, ids, blq=blq, lloq=lloq, seed=3)
    pd.testing.assert_frame_equal(result, again)
    other = npde(obs, sims, ids, blq=blq, lloq=lloq, seed=4)
    assert not np.allclose(other.PD[blq], result.PD[blq])
    np.testing.assert_array_equal(other.PD[~blq], result.PD[~blq])


def test_bad_input_and_singular_covariance():
    with pytest.raises(ValueError, match=r"replicates must be \(K, 2\)"):
        npde([1.0, 2.0], SIMS.T)
    with pytest.raises(ValueError, match="not BLQ; flag censored rows with blq="):
        npde([np.nan, 2.0], SIMS)
    with pytest.raises(ValueError, match="have no finite lloq"):
        npde([np.nan, 2.0], SIMS, blq=[True, False])
    with pytest.raises(ValueError, match="groups must have one value per observation"):
        npde([1.0, 2.0], SIMS, groups=[1])
    with pytest.warns(RuntimeWarning, match="NPDE undefined for 1 group"):
        few = npde([1.0, 2.0, 3.0], SIMS[:2, [0, 1, 1]])  # 2 replicates of 3 values
    assert few.NPDE.isna().all() and np.isfinite(few.NPD).all()
    # A value every replicate shares (a zero baseline) is left out of the decorrelation; the
    # others keep the hand-worked values.
    sims = np.column_stack([np.zeros(5), SIMS])
    with pytest.warns(RuntimeWarning, match="1 observation.s. where every replicate has the"):
        baseline = npde([0.0, 3.5, 3.6], sims)
    assert np.isnan(baseline.NPDE[0])
    np.testing.assert_allclose(baseline.PDE[1:], [0.6, 0.8], atol=1e-12)


def gof_table(rng, n_subjects=6):
    """Two outputs, rows interleaved: 'conc' (log-normal, some BLQ) and 'effect'."""
    t = np.tile([1.0, 2.0, 4.0, 8.0], n_subjects)
    ids = np.repeat(np.arange(1, n_subjects + 1), 4)
    f = 100 * np.exp(-0.4 * t)
    sims_conc = f * np.exp(0.5 * rng.standard_normal((100, t.size)))
    conc = f * np.exp(0.5 * rng.standard_normal(t.size))
    blq = conc < 5.0
    effect = 50 + rng.standard_normal(t.size)
    sims_effect = 50 + rng.standard_normal((100, t.size))
    frames = []
    for name, dv, pred, flag, lloq in (("conc", np.where(blq, np.nan, conc), f, blq, 5.0),
                                       ("effect", effect, np.full(t.size, 50.0), False, np.nan)):
        frames.append(pd.DataFrame({"ID": ids, "TIME": t, "output": name, "DV": dv,
                                    "BLQ": np.asarray(flag, dtype=int) * np.ones(t.size, int),
                                    "LLOQ": lloq, "PRED": pred, "IPRED": pred}))
    order = np.argsort(np.r_[np.arange(t.size), np.arange(t.size)], kind="stable")
    table = pd.concat(frames, ignore_index=True).iloc[order].reset_index(drop=True)
    sims = np.hstack([sims_conc, sims_effect])[:, order]
    return table, sims


def test_gof_figure_plots_npde_from_replicates():
    table, sims = gof_table(np.random.default_rng(2))
    conc = (table.output == "conc").to_numpy()
    assert conc.sum() == 24 and table.BLQ[conc].sum() > 0
    fig = gof_figure(table, "conc", unit="mg/L", time_unit="h", log=True, replicates=sims)
    res_time, res_pred = fig.axes[2], fig.axes[3]
    assert res_time.get_ylabel() == "NPDE" and res_time.get_title() == "NPDE vs time"
    levels = sorted(line.get_ydata()[0] for line in res_time.get_lines()[:3])
    assert levels == [-1.96, 0.0, 1.96]
    # Every observation is drawn, BLQ ones (imputed) as a second series; the values are the
    # NPDE of this output's columns of the replicates, decorrelated per subject.
    expected = npde(table.DV[conc], sims[:, conc], table.ID[conc], blq=table.BLQ[conc] == 1,
                    lloq=table.LLOQ[conc]).NPDE.to_numpy()
    shown = np.concatenate([c.get_offsets()[:, 1] for c in res_time.collections])
    np.testing.assert_allclose(np.sort(shown), np.sort(expected), rtol=1e-12)
    blq_rows = table.BLQ[conc].to_numpy() == 1
    np.testing.assert_allclose(res_time.collections[1].get_offsets()[:, 1],
                               expected[blq_rows], rtol=1e-12)
    assert res_pred.get_xlabel() == "PRED (mg/L)" and res_pred.get_xscale() == "log"
    assert sum(len(c.get_offsets()) for c in res_pred.collections) == 24
    assert "BLQ not shown" not in res_time.get_title()
    assert "BLQ not shown" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match=r"replicates must be \(K, 48\)"):
        gof_figure(table, "conc", unit="mg/L", time_unit="h", log=True, replicates=sims[:, :24])


def test_add_npde_decorrelates_per_subject_and_output():
    table, sims = gof_table(np.random.default_rng(2))
    with_npde = add_npde(table, sims, seed=1)
    for name in ("conc", "effect"):
        rows = (table.output == name).to_numpy()
        expected = npde(table.DV[rows], sims[:, rows], table.ID[rows],
                        blq=table.BLQ[rows] == 1, lloq=table.LLOQ[rows], seed=1)
        np.testing.assert_allclose(with_npde.NPDE[rows], expected.NPDE, rtol=1e-12)
        np.testing.assert_allclose(with_npde.NPD[rows], expected.NPD, rtol=1e-12)
