import numpy as np
import pandas as pd
import pytest

from cellpkpd.endpoints import nca, nca_frame
from cellpkpd.errors import DataError, ParameterError

T = np.array([0.0, 1, 2, 4, 7, 14, 21, 28, 35])
K = 0.1


def mono(t):
    return 100.0 * np.exp(-K * t)


def test_pure_exponential_is_exact_with_log_down():
    r = nca(T, mono(T))
    assert (r.cmax, r.tmax, r.tlast) == (100.0, 0.0, 35.0)
    assert r.lambda_z == pytest.approx(K, rel=1e-12)
    assert r.half_life == pytest.approx(np.log(2) / K, rel=1e-12)
    assert r.lambda_z_n_points == 8  # every point after Tmax: all fits are perfect, largest n
    assert r.lambda_z_adj_r2 == pytest.approx(1.0)
    assert r.auc_0_tlast == pytest.approx(1000.0 * (1 - np.exp(-3.5)), rel=1e-12)
    assert r.auc_windows[(0.0, 28.0)] == pytest.approx(1000.0 * (1 - np.exp(-2.8)), rel=1e-12)
    assert r.auc_0_inf == pytest.approx(1000.0, rel=1e-12)


def test_linear_trapezoid_error_within_the_trapezoid_bound():
    r = nca(T, mono(T), auc_method="linear")
    exact = 1000.0 * (1 - np.exp(-3.5))
    dt = np.diff(T)
    bound = np.sum(dt**3 / 12 * K**2 * mono(T[:-1]))  # max |f''| on each segment
    assert 0 < r.auc_0_tlast - exact <= bound


def test_partial_windows_interpolate_and_extrapolate():
    r = nca(T[:7], mono(T[:7]), auc_windows=((0, 28), (1.5, 5), (25, 30)))
    exact = lambda a, b: 1000.0 * (np.exp(-K * a) - np.exp(-K * b))  # noqa: E731
    for window in ((0, 28), (1.5, 5), (25, 30)):  # 28 and 30 lie after tlast = 21
        assert r.auc_windows[window] == pytest.approx(exact(*window), rel=1e-10)
    assert r.as_dict()["auc_1.5_5"] == r.auc_windows[(1.5, 5.0)]


def test_biexponential_with_absorption():
    t = np.array([0, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 21, 28, 35, 42])
    c = 50.0 * (np.exp(-0.1 * t) - np.exp(-1.0 * t))
    exact = 50.0 * ((1 - np.exp(-4.2)) / 0.1 - (1 - np.exp(-42.0)) / 1.0)
    r = nca(t, c)
    assert r.tmax == 3.0  # true peak at ln(10)/0.9 = 2.56 d
    assert r.auc_0_tlast == pytest.approx(exact, rel=1e-2)
    # The 1e-4 adjusted-R² tolerance admits day 6, where exp(-t) still biases the slope by 0.3 %
    assert r.lambda_z_n_points == 9
    assert r.lambda_z == pytest.approx(0.1, rel=5e-3)
    assert r.auc_0_inf == pytest.approx(50.0 * (1 / 0.1 - 1 / 1.0), rel=1e-2)


def test_point_selection_takes_most_points_with_best_adjusted_r2():
    t = np.array([0.0, 1, 2, 3, 5, 8, 12, 16])
    c = 10.0 * np.exp(-0.2 * t)
    c[:4] *= [1.0, 1.6, 1.4, 1.3]  # distribution phase above the terminal line
    r = nca(t, c)
    assert r.tmax == 1.0
    assert r.lambda_z_n_points == 4 and r.lambda_z == pytest.approx(0.2, rel=1e-12)


def test_blq_before_first_is_zero_after_is_missing():
    t = np.array([0.0, 1, 2, 4, 7, 14, 21, 28])
    c = np.array([0.1, 5, 50, 40, 0.5, 5, 0.5, 0.2])
    r = nca(t, c, lloq=1.0)
    keep = [0, 1, 2, 3, 5]  # BLQ at day 7 missing: the curve is interpolated across it
    ref = nca(t[keep], np.where(np.arange(5) == 0, 0.0, c[keep]))
    assert r.tlast == 14.0 and r.clast == 5.0
    assert r.auc_0_tlast == pytest.approx(ref.auc_0_tlast)
    assert np.isnan(r.lambda_z) and "at least 3" in r.notes[0]  # only 4 and 14 after Tmax
    assert np.isnan(r.auc_windows[(0.0, 28.0)]) and "λz is unknown" in " ".join(r.notes)


def test_blq_zero_and_missing_rules():
    t = np.array([0.0, 1, 2, 4, 7])
    c = np.array([0.0, 8, 4, 2, 0.0])
    flags = np.array([True, False, False, False, True])
    zero = nca(t, c, blq=flags, blq_rule="zero")
    assert zero.tlast == 4.0
    tail = 3 * 2 / 2  # linear drop from 2 to 0 over days 4-7
    assert zero.auc_windows[(0.0, 28.0)] == pytest.approx(zero.auc_0_tlast + tail)
    missing = nca(t, c, blq=flags, blq_rule="missing")
    assert missing.auc_0_tlast == pytest.approx(zero.auc_0_tlast - 4.0)  # 0-1 rise dropped
    assert any("first sample" in n for n in missing.notes)
    assert nca(t[1:], c[1:], c0=0.0).auc_0_tlast == pytest.approx(zero.auc_0_tlast)


def test_nan_only_allowed_when_flagged_blq():
    with pytest.raises(DataError, match=r"conc\[2\]"):
        nca([0, 1, 2], [1.0, 2.0, np.nan])
    r = nca([0, 1, 2, 3, 4], [5.0, 4.0, 3.0, 2.0, np.nan], blq=[0, 0, 0, 0, 1])
    assert r.tlast == 3.0


def test_bad_inputs_raise():
    with pytest.raises(DataError, match="does not come after"):
        nca([0, 1, 1], [1, 2, 3])
    with pytest.raises(ParameterError, match="blq_rule"):
        nca([0, 1], [1, 2], blq_rule="drop")
    with pytest.raises(ParameterError, match="lloq"):
        nca([0, 1], [1, 2], lloq=-1)
    all_blq = nca([0, 1, 2], [0.1, 0.2, 0.1], lloq=1.0)
    assert all_blq.cmax == 0.0 and np.isnan(all_blq.auc_0_tlast)
    assert all_blq.notes == ("no quantifiable concentration",)


def test_frame_runs_per_subject_and_collects_problems():
    frame = pd.DataFrame({"id": [1] * 9 + [2] * 9, "time": np.tile(T, 2),
                          "value": np.concatenate([mono(T), 2 * mono(T)])})
    out = nca_frame(frame)
    assert list(out.index) == [1, 2] and "auc_0_28" in out.columns
    assert out.loc[2, "auc_0_tlast"] == pytest.approx(2 * out.loc[1, "auc_0_tlast"])
    bad = frame.copy()
    bad.loc[10, "time"] = 0.0
    with pytest.raises(DataError, match="subject 2"):
        nca_frame(bad)
