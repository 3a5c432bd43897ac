"""`simulate_population`: virtual subjects against the analytic one-compartment solution, the
statistics of their random effects and residual errors against the requested SDs, the same
subjects across regimens, chunk and seed invariance, a `Fit` source, and bad input.

Everything runs on `pk_1cmt_iv` (closed form) with the same regimen structure and times, so the
compiled solver is shared between tests (one compilation per chunk shape)."""

import math
import warnings

import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
import xarray as xr

import cellpkpd as cp
from cellpkpd.errors import ParameterError
from cellpkpd.virtual_population import simulate_population

TIMES = np.array([1.0, 6.0, 13.0, 20.0])  # h; the second dose is at 12 h
IIV = {"cl": 0.3, "v": 0.2}
PROP = 0.2
ERROR = {"cp": cp.ResidualError("proportional", prop=PROP)}
N = 2000


def two_doses(amount, unit="mg", name=""):
    return cp.regimen(cp.Dose(amount, unit, "central", every=12.0, count=2), name=name)


REGIMENS = {"100 mg": two_doses(100.0), "200 mg": two_doses(200.0)}


def analytic(amount, cl, v, t):
    """Bolus doses at 0 and 12 h into one compartment: sum of amount/v * exp(-cl/v (t - td))."""
    return sum(np.where(t >= td, amount / v * np.exp(-cl / v * (t - td)), 0.0)
               for td in (0.0, 12.0))


@pytest.fixture(scope="module")
def population():
    return simulate_population("pk_1cmt_iv", "defaults", REGIMENS, N, 11, times=TIMES, iiv=IIV,
                               error=ERROR, chunk=1000)


@pytest.fixture(scope="module")
def small():
    """The first 60 subjects again, in chunks of 25."""
    return simulate_population("pk_1cmt_iv", "defaults", REGIMENS, 60, 11, times=TIMES, iiv=IIV,
                               error=ERROR, chunk=25)


def test_layout_units_and_attrs(population):
    ds = population
    assert ds["cp"].dims == ("regimen", "draw", "subject", "time")
    assert ds["cp_obs"].dims == ds["cp"].dims
    assert ds["cl"].dims == ("draw", "subject") and ds["v"].dims == ("draw", "subject")
    assert list(ds["regimen"].values) == ["100 mg", "200 mg"]
    assert ds.sizes["draw"] == 1 and ds.sizes["subject"] == N
    np.testing.assert_array_equal(ds["time"].values, TIMES)
    assert ds["time"].attrs["units"] == "h" and ds["cp"].attrs["units"] == "mg/L"
    assert ds["cl"].attrs["units"] == "L/h" and ds["v"].attrs["units"] == "L"
    assert ds.attrs["model"] == "pk_1cmt_iv" and ds.attrs["time_unit"] == "h"
    assert ds.attrs["seed"] == 11 and ds.attrs["source"] == "defaults"
    assert not ds["solver_failed"].any()
    assert float(ds["tv_cl"][0]) == 1.0 and float(ds["omega_v"][0]) == 0.2


def test_subjects_follow_the_analytic_solution(population):
    ds = population
    for amount, name in ((100.0, "100 mg"), (200.0, "200 mg")):
        for i in (0, 7, N - 1):
            cl, v = float(ds["cl"][0, i]), float(ds["v"][0, i])
            np.testing.assert_allclose(ds["cp"].sel(regimen=name)[0, i].values,
                                       analytic(amount, cl, v, TIMES), rtol=1e-10)


def test_log_normal_iiv_matches_typical_values_and_omegas(population):
    ds = population
    log_cl, log_v = np.log(ds["cl"].values[0]), np.log(ds["v"].values[0])
    for values, typical, omega in ((log_cl, 1.0, 0.3), (log_v, 20.0, 0.2)):
        # Within 4 standard errors of the mean and of the SD of a normal sample.
        assert abs(values.mean() - math.log(typical)) < 4 * omega / math.sqrt(N)
        assert abs(values.std(ddof=1) - omega) < 4 * omega / math.sqrt(2 * (N - 1))
    assert abs(np.corrcoef(log_cl, log_v)[0, 1]) < 4 / math.sqrt(N)


def test_regimens_share_subjects_and_noise(population):
    low = population.sel(regimen="100 mg")
    high = population.sel(regimen="200 mg")
    # Linear model, same parameters: twice the dose is twice the concentration.
    np.testing.assert_allclose(high["cp"].values, 2 * low["cp"].values, rtol=1e-14, atol=0)
    # Same residual draws: the relative errors coincide.
    np.testing.assert_allclose((high["cp_obs"] / high["cp"]).values,
                               (low["cp_obs"] / low["cp"]).values, rtol=1e-12)


def test_proportional_residual_error_has_the_model_sd(population):
    low = population.sel(regimen="100 mg")
    rel = ((low["cp_obs"] - low["cp"]) / low["cp"]).values.ravel()
    m = rel.size
    assert abs(rel.mean()) < 4 * PROP / math.sqrt(m)
    assert abs(rel.std(ddof=1) - PROP) < 4 * PROP / math.sqrt(2 * (m - 1))


def test_independent_of_chunk_and_reproducible(population, small):
    first = population.isel(subject=slice(0, 60))
    for name in ("cl", "v"):
        np.testing.assert_array_equal(small[name].values, first[name].values)
    for name in ("cp", "cp_obs"):
        np.testing.assert_allclose(small[name].values, first[name].values, rtol=1e-12)
    again = simulate_population("pk_1cmt_iv", "defaults", REGIMENS, 60, 11, times=TIMES,
                                iiv=IIV, error=ERROR, chunk=25)
    xr.testing.assert_identical(again, small)
    other = simulate_population("pk_1cmt_iv", "defaults", REGIMENS, 60, 12, times=TIMES,
                                iiv=IIV, error=ERROR, chunk=25)
    assert not np.any(other["cl"].values == small["cl"].values)


def test_reduce_gives_per_subject_endpoints(small):
    def cmax(ds):
        return xr.Dataset({"cmax": ds["cp"].max("time"), "cmax_obs": ds["cp_obs"].max("time")})

    out = simulate_population("pk_1cmt_iv", "defaults", REGIMENS, 60, 11, times=TIMES,
                              iiv=IIV, error=ERROR, chunk=25, reduce=cmax)
    assert "cp" not in out and out["cmax"].dims == ("regimen", "draw", "subject")
    np.testing.assert_array_equal(out["cmax"].values, small["cp"].max("time").values)
    np.testing.assert_array_equal(out["cl"].values, small["cl"].values)  # added back
    assert "solver_failed" in out

    with pytest.raises(ValueError, match="reduce= returned variable 'mean_cp'"):
        simulate_population("pk_1cmt_iv", "defaults", REGIMENS, 60, 11, times=TIMES, iiv=IIV,
                            chunk=25, reduce=lambda ds: xr.Dataset({"mean_cp": ds.cp.mean()}))


def test_covariate_table_is_resampled_and_scales_per_kg_doses():
    table = pd.DataFrame({"WT": [50.0, 60.0, 75.0, 90.0, 110.0]})
    reg = two_doses(1.5, "mg/kg", name="1.5 mg/kg")
    ds = simulate_population("pk_1cmt_iv", "defaults", reg, 60, 3, times=TIMES, iiv=IIV,
                             covariates=table, residual_error=False, chunk=25)
    rows = ds["covariate_row"].values
    np.testing.assert_array_equal(ds["WT"].values, table.WT.values[rows])
    assert len(set(rows)) == 5 and "cp_obs" not in ds
    for i in (0, 31, 59):
        wt, cl, v = float(ds["WT"][i]), float(ds["cl"][0, i]), float(ds["v"][0, i])
        np.testing.assert_allclose(ds["cp"][0, 0, i].values, analytic(1.5 * wt, cl, v, TIMES),
                                   rtol=1e-10)
    again = simulate_population("pk_1cmt_iv", "defaults", reg, 60, 3, times=TIMES, iiv=IIV,
                                covariates=table, residual_error=False, chunk=25)
    np.testing.assert_array_equal(again["covariate_row"].values, rows)


def test_prior_source_draws_typical_values():
    prior = dist.LogNormal(0.0, 0.5)
    ds = simulate_population("pk_1cmt_iv", {"cl": prior}, REGIMENS["100 mg"], 60, 5,
                             times=TIMES, draws=4, chunk=25)
    tv = ds["tv_cl"].values
    assert ds.attrs["source"] == "priors" and tv.shape == (4,) and len(set(tv)) == 4
    # No IIV: every subject of a draw has that draw's typical value.
    np.testing.assert_array_equal(ds["cl"].values, np.repeat(tv[:, None], 60, axis=1))
    np.testing.assert_allclose(ds["cp"][0, 2, 0].values, analytic(100.0, tv[2], 20.0, TIMES),
                               rtol=1e-10)


def test_failed_solves_are_nan_flagged_and_counted():
    # An absurd omega underflows some volumes to exactly 0, where cp = amount / v is undefined;
    # every other subject solves.
    with pytest.warns(RuntimeWarning, match=r"failed for \d+ of 50 .*solver_failed"):
        ds = simulate_population("pk_1cmt_iv", "defaults", REGIMENS, 25, 0, times=TIMES,
                                 iiv={"v": 800.0}, chunk=25)
    zero_v = ds["v"].values[0] == 0.0
    assert zero_v.any() and not zero_v.all()
    for r in range(2):
        np.testing.assert_array_equal(ds["solver_failed"].values[r, 0], zero_v)
        cp_r = ds["cp"].values[r, 0]
        assert np.isnan(cp_r[zero_v]).all() and np.isfinite(cp_r[~zero_v]).all()


# -- a Fit as the source -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def map_fit():
    """A small Laplace fit: CL with IIV and a WT power effect, V fixed, proportional error."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(1, 5):
        cl, wt = math.exp(0.3 * rng.standard_normal()), rng.uniform(50, 90)
        rows.append(dict(ID=i, TIME=0.0, EVID=1, AMT=100.0, DV=np.nan, MDV=1, CMT=1, WT=wt))
        for t in (1.0, 4.0, 12.0):
            c = 100.0 / 20.0 * math.exp(-cl / 20.0 * t + 0.1 * rng.standard_normal())
            rows.append(dict(ID=i, TIME=t, EVID=0, AMT=0.0, DV=c, MDV=0, CMT=1, WT=wt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cp.fit("pk_1cmt_iv", pd.DataFrame(rows), method="map", iiv=["cl"],
                      fixed={"v": 20.0}, error={"cp": "proportional"},
                      covariates={"cl": ("WT", "power", 70.0)})


def test_fit_source_uses_posterior_draws(map_fit):
    n = 1000
    wt = np.random.default_rng(2).uniform(45.0, 110.0, n)
    ds = simulate_population("pk_1cmt_iv", map_fit, REGIMENS["100 mg"], n, 9, times=TIMES,
                             draws=3, covariates={"WT": wt}, chunk=1000)
    post = map_fit.idata.posterior
    assert ds.attrs["source"] == "fit" and ds.sizes["draw"] == 3
    assert "v" not in ds and '"v": 20.0' in ds.attrs["fixed_parameters"]
    for d in range(3):
        at = dict(chain=int(ds["chain"][d]), draw=int(ds["posterior_draw"][d]))
        for site in ("cl", "omega_cl", "beta_cl_WT", "sigma_cp"):
            name = "tv_cl" if site == "cl" else site
            assert float(ds[name][d]) == float(post[site].isel(**at))
        # Individual CL = TV (WT/70)^beta exp(eta), eta ~ N(0, omega^2).
        eta = (np.log(ds["cl"].values[d]) - math.log(float(ds["tv_cl"][d]))
               - float(ds["beta_cl_WT"][d]) * np.log(wt / 70.0))
        omega = float(ds["omega_cl"][d])
        assert abs(eta.mean()) < 4 * omega / math.sqrt(n)
        assert abs(eta.std(ddof=1) - omega) < 4 * omega / math.sqrt(2 * (n - 1))
        cl = float(ds["cl"][d, 5])
        np.testing.assert_allclose(ds["cp"][0, d, 5].values, analytic(100.0, cl, 20.0, TIMES),
                                   rtol=1e-10)
        rel = ((ds["cp_obs"][0, d] - ds["cp"][0, d]) / ds["cp"][0, d]).values.ravel()
        sigma = float(ds["sigma_cp"][d])
        assert abs(rel.std(ddof=1) - sigma) < 4 * sigma / math.sqrt(2 * (rel.size - 1))
    assert "sigma_cp" in ds["cp_obs"].attrs["residual_error"]


def test_fit_source_rejects_what_the_fit_brings(map_fit):
    reg = REGIMENS["100 mg"]
    with pytest.raises(ParameterError, match="a Fit brings its own IIV"):
        simulate_population("pk_1cmt_iv", map_fit, reg, 5, 0, times=TIMES, iiv={"cl": 0.3})
    with pytest.raises(ParameterError, match="fit estimated the residual error of 'cp'"):
        simulate_population("pk_1cmt_iv", map_fit, reg, 5, 0, times=TIMES, error=ERROR)
    with pytest.raises(ValueError, match="ask for at most"):
        simulate_population("pk_1cmt_iv", map_fit, reg, 5, 0, times=TIMES, draws=10**6)


# -- bad input -----------------------------------------------------------------------------------

BAD = [
    (dict(iiv={"clearance": 0.3}), ParameterError, r"iiv= names \['clearance'\]"),
    (dict(iiv={"cl": 0.0}), ParameterError, r"iiv\['cl'\] = 0.0"),
    (dict(iiv={"cl": float("nan")}), ParameterError, r"iiv\['cl'\]"),
    (dict(n=0), ValueError, r"n=0 must be a whole number >= 1"),
    (dict(regimens={}), ValueError, r"regimens= is empty"),
    (dict(regimens=[two_doses(1.0), two_doses(2.0)]), ValueError, r"give a dict"),
    (dict(times=[6.0, 1.0]), ValueError, r"times= must be strictly increasing"),
    (dict(times=[1.0, np.nan]), ValueError, r"times= contains non-finite"),
    (dict(outputs=["conc"]), ValueError, r"outputs=\['conc'\]"),
    (dict(source="typical"), ValueError, r"source='typical'"),
    (dict(source={"cl": dist.LogNormal(0.0, 0.5)}), ValueError, r"needs draws="),
    (dict(source={"k": dist.LogNormal(0.0, 0.5)}, draws=2), ParameterError, r"\['k'\]"),
    (dict(source={"cl": dist.Normal(0.0, 1.0)}, draws=20), ParameterError, r"LogNormal"),
    (dict(regimens=two_doses(1.0, "mg/kg")), ValueError, r"needs each subject's WT"),
    (dict(covariates=pd.DataFrame({"WT": [70.0, "heavy"]})), ValueError,
     r"column 'WT', row 1: 'heavy'"),
    (dict(chunk=0), ValueError, r"chunk=0"),
]


@pytest.mark.parametrize(("change", "error", "message"), BAD)
def test_bad_input_is_named(change, error, message):
    args = dict(source="defaults", regimens=REGIMENS, n=10, times=TIMES)
    args.update(change)
    model = "pk_1cmt_iv"
    rest = {k: v for k, v in args.items() if k not in ("source", "regimens", "n")}
    with pytest.raises(error, match=message):
        simulate_population(model, args["source"], args["regimens"], args["n"], 0, **rest)
