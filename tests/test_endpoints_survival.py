import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from cellpkpd.endpoints import (  # noqa: E402
    dor_times,
    kaplan_meier,
    km_plot,
    os_times,
    pfs_times,
)
from cellpkpd.errors import DataError  # noqa: E402


def sample(seed=0, n=60):
    """Integer times give ties among events and censorings at event times."""
    rng = np.random.default_rng(seed)
    times = rng.integers(1, 20, size=n).astype(float)
    events = rng.random(n) < 0.7
    return times, events


def scipy_sf(times, events):
    data = stats.CensoredData(uncensored=times[events], right=times[~events])
    return stats.ecdf(data).sf


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_km_matches_scipy_with_ties_and_censoring(seed):
    times, events = sample(seed)
    km = kaplan_meier(times, events)
    tab = km.table
    assert (tab["n_events"] > 0).any() and ((tab["n_events"] > 0) & (tab["n_censored"] > 0)).any()
    sf = scipy_sf(times, events)
    np.testing.assert_allclose(tab["survival"], sf.evaluate(tab["time"]), rtol=1e-12)
    with warnings.catch_warnings():  # scipy warns where the band is undefined (S = 0)
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = sf.confidence_interval(method="log-log")
    finite = np.isfinite(tab["lower"]) & (tab["n_events"].cumsum() > 0)
    np.testing.assert_allclose(tab["lower"][finite], ci.low.evaluate(tab["time"][finite]),
                               rtol=1e-10)
    np.testing.assert_allclose(tab["upper"][finite], ci.high.evaluate(tab["time"][finite]),
                               rtol=1e-10)
    # median CI read off the same band
    lo_curve, hi_curve = ci.low.evaluate(tab["time"]), ci.high.evaluate(tab["time"])
    first = lambda y: tab["time"][y <= 0.5].min() if (y <= 0.5).any() else np.nan  # noqa: E731
    median, lower, upper = km.median()
    assert median == first(tab["survival"].to_numpy())
    assert lower == first(lo_curve)
    assert upper == pytest.approx(first(hi_curve), nan_ok=True)


def test_hand_computed_median_and_greenwood():
    # t: 1  2  2+ 3  4  5+   S: 5/6, 2/3, 2/3 (censored at 2 after the event), 4/9, 2/9
    km = kaplan_meier([1, 2, 2, 3, 4, 5], [1, 1, 0, 1, 1, 0])
    tab = km.table.set_index("time")
    assert tab["survival"].tolist() == pytest.approx([5 / 6, 2 / 3, 4 / 9, 2 / 9, 2 / 9])
    assert tab["n_at_risk"].tolist() == [6, 5, 3, 2, 1]
    greenwood = 1 / (6 * 5) + 1 / (5 * 4) + 1 / (3 * 2)
    assert tab.loc[3.0, "std_err"] == pytest.approx(4 / 9 * np.sqrt(greenwood))
    assert km.median()[0] == 3.0
    at = km.survival_at([0.5, 2.5, 5.0, 6.0])
    assert at["survival"].tolist()[:3] == pytest.approx([1.0, 2 / 3, 2 / 9])
    assert np.isnan(at["survival"].iloc[3])  # beyond the last follow-up
    assert np.isnan(kaplan_meier([1, 2, 3], [1, 0, 0]).median()[0])  # not reached


def test_km_bad_input_and_plot():
    with pytest.raises(DataError, match="negative"):
        kaplan_meier([-1, 2], [1, 1])
    with pytest.raises(DataError, match="events"):
        kaplan_meier([1, 2], [1, 1, 0])
    fig, ax = plt.subplots()
    km_plot(ax, kaplan_meier(*sample()), label="arm 1")
    assert len(ax.lines) == 2 and len(ax.collections) == 1
    plt.close(fig)


def test_os_pfs_dor_tables():
    subjects = pd.DataFrame({
        "id": [1, 2, 3], "start": [0.0, 5.0, 0.0], "progression": [100.0, np.nan, np.nan],
        "death": [150.0, 80.0, np.nan], "last_assessment": [100.0, 60.0, 90.0],
        "last_contact": [150.0, 80.0, 200.0], "response_onset": [56.0, np.nan, 42.0]})
    pfs = pfs_times(subjects)
    assert pfs["time"].tolist() == [100.0, 75.0, 90.0]
    assert pfs["event"].tolist() == [True, True, False]
    os_ = os_times(subjects)
    assert os_["time"].tolist() == [150.0, 75.0, 200.0]
    dor = dor_times(subjects)
    assert dor["id"].tolist() == [1, 3] and dor["time"].tolist() == [44.0, 48.0]
    assert dor["event"].tolist() == [True, False]
    bad = subjects.assign(last_assessment=[100.0, 60.0, np.nan])
    with pytest.raises(DataError, match="subject 3"):
        pfs_times(bad)
