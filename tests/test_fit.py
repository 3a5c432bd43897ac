"""Population fitting (`cellpkpd.fit`): theophylline against R nlme's published estimates
(tests/data/theoph/README.md), the M3 likelihood against a hand-written one and against
dropping BLQ rows, the save/load round trip, and what bad options get."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cellpkpd as cp
from cellpkpd.errors import DataError, ParameterError
from cellpkpd.fitting import population, run

THEOPH = None  # set by the fixture below

# R nlme 3.1.162, model A (tests/data/theoph/README.md).
NLME = {"ka": 1.561, "cl": 0.04029, "v": 0.4556, "omega_ka": 0.642, "omega_cl": 0.264,
        "omega_v": 0.135, "sigma_cp": 0.692}
THEOPH_OPTIONS = dict(iiv=["ka", "cl", "v"], error={"cp": "additive"})


@pytest.fixture(scope="module")
def theoph_path(data_dir):
    return data_dir / "theoph" / "theoph_nonmem.csv"


@pytest.fixture(scope="module")
def theoph_map(theoph_path):
    return cp.fit("pk_1cmt_oral", theoph_path, method="map", **THEOPH_OPTIONS)


def test_theophylline_map_matches_nlme(theoph_map):
    est = theoph_map.provenance["map_estimates"]
    for name in ("ka", "cl", "v"):
        assert est[name] == pytest.approx(NLME[name], rel=0.05), name
    for name in ("omega_ka", "omega_cl", "omega_v", "sigma_cp"):
        assert est[name] == pytest.approx(NLME[name], rel=0.30), name
    table = theoph_map.summary()
    assert list(table.index) == ["cl", "v", "ka", "omega_cl", "omega_v", "omega_ka",
                                 "sigma_cp"]
    # Laplace standard errors: nlme's approximate SEs of log cl, log v and log ka are
    # 0.08, 0.05 and 0.19 (intervals(fit)); ours come from the Hessian on the same scale.
    rse = table["sd"] / table["map"]
    assert 0.04 < rse["cl"] < 0.15 and 0.02 < rse["v"] < 0.10 and 0.1 < rse["ka"] < 0.35


@pytest.mark.parametrize("parameterization", ["noncentered", "centered"])
def test_theophylline_nuts_matches_nlme(theoph_path, parameterization):
    fit = cp.fit("pk_1cmt_oral", theoph_path, chains=2, warmup=150, samples=150, seed=1,
                 parameterization=parameterization, **THEOPH_OPTIONS)
    table = fit.summary()
    for name in ("ka", "cl", "v"):
        assert table.loc[name, "median"] == pytest.approx(NLME[name], rel=0.10), name
    for name in ("omega_ka", "omega_cl", "omega_v", "sigma_cp"):
        assert table.loc[name, "median"] == pytest.approx(NLME[name], rel=0.30), name
    diag = fit.diagnostics()
    assert diag.divergences == 0
    assert diag.max_rhat < 1.05
    idata = fit.idata
    for group in ("posterior", "sample_stats", "observed_data", "constant_data",
                  "log_likelihood"):
        assert group in idata.groups()
    assert list(idata.posterior["z"].coords["id"].values) == list(range(1, 13))
    assert idata.log_likelihood["y"].shape == (2, 150, 132)
    ind = fit.individual()
    assert set(ind.index.get_level_values("parameter")) == {"ka", "cl", "v"}
    pred = fit.predict()
    assert len(pred) == 132 and {"PRED", "IPRED", "RES", "IWRES"} <= set(pred.columns)
    # Individual predictions fit far better than the typical-subject ones.
    assert pred.IRES.abs().mean() < 0.6 * pred.RES.abs().mean()


def test_theophylline_svi_runs_and_lands_near_nlme(theoph_path):
    fit = cp.fit("pk_1cmt_oral", theoph_path, method="svi", svi_steps=2000, samples=200,
                 seed=0, **THEOPH_OPTIONS)
    table = fit.summary()
    for name in ("ka", "cl", "v"):
        assert table.loc[name, "median"] == pytest.approx(NLME[name], rel=0.15), name
    loss = fit.idata.sample_stats["svi_loss"].values
    assert loss.shape == (2000,) and loss[-100:].mean() < loss[:100].mean()


def test_save_and_load_round_trip(theoph_map, tmp_path):
    theoph_map.save(tmp_path / "fit")
    again = cp.load_fit(tmp_path / "fit")
    pd.testing.assert_frame_equal(again.summary(), theoph_map.summary(), check_exact=True)
    pd.testing.assert_frame_equal(again.predict(), theoph_map.predict(), check_exact=True)
    prov = again.provenance
    assert prov["model"] == "pk_1cmt_oral" and len(prov["data_sha256"]) == 64
    assert {"cellpkpd", "jax", "numpyro", "arviz"} <= set(prov["versions"])
    assert (tmp_path / "fit" / "data.csv").exists()
    assert not list((tmp_path / "fit").glob(".*partial*"))


@pytest.mark.parametrize("correlated", [False, True])
def test_centered_density_is_the_noncentered_one_after_the_change_of_variables(
        theoph_path, correlated):
    # psi_i = mu_i + diag(omega) L z_i, so p_c(psi, pop) = p_nc(z, pop) / |diag(omega) L|
    # per subject: log p_c = log p_nc - S * sum_k log(omega_k L_kk).
    prep = run.prepare("pk_1cmt_oral", theoph_path, iiv_correlation=correlated,
                       covariates={"cl": ("WT", "power", 70.0)}, **THEOPH_OPTIONS)
    spec, data = prep.spec, prep.data
    values = {"ka": 1.5, "cl": 0.04, "v": 0.45, "beta_cl_WT": 0.75, "omega_ka": 0.6,
              "omega_cl": 0.3, "omega_v": 0.15, "sigma_cp": 0.7}
    values = {k: jnp.asarray(v) for k, v in values.items()}
    chol = np.eye(3)
    if correlated:
        corr = np.array([[1.0, 0.3, -0.2], [0.3, 1.0, 0.5], [-0.2, 0.5, 1.0]])
        chol = np.linalg.cholesky(corr)
        values["L_omega"] = jnp.asarray(chol)
    n = data["theta"].shape[0]
    z = jax.random.normal(jax.random.PRNGKey(3), (n, 3))
    psi = population.psi_from_z(spec, values, z, data)

    # The mean is the typical value with its covariate effect, written out by hand.
    wt = prep.dataset.table.groupby("ID")["WT"].first().to_numpy()
    omega = np.array([float(values[f"omega_{p}"]) for p in spec.iiv])
    eta = (np.asarray(z) @ chol.T) * omega
    cl_i = np.log(0.04) + 0.75 * np.log(wt / 70.0) + eta[:, spec.iiv.index("cl")]
    np.testing.assert_allclose(psi[:, spec.iiv.index("cl")], cl_i, rtol=1e-13)
    np.testing.assert_allclose(population.z_from_psi(spec, values, psi, data), z, atol=1e-12)
    # Draws of psi (chain, draw, id, iiv) come back as those of z.
    draws = {k: np.broadcast_to(np.asarray(v), (2, 3, *np.shape(v))) for k, v in values.items()}
    draws["psi"] = np.broadcast_to(np.asarray(psi), (2, 3, *psi.shape))
    back = run._population_draws(spec, draws, data)
    assert "psi" not in back
    np.testing.assert_allclose(back["z"], np.broadcast_to(np.asarray(z), (2, 3, n, 3)),
                               atol=1e-12)

    from numpyro.infer.util import log_density

    nc = log_density(population.numpyro_model(spec, prep.solve), (data,), {},
                     {**values, "z": z})[0]
    c = log_density(population.numpyro_model(spec, prep.solve, centered=True), (data,), {},
                    {**values, "psi": psi})[0]
    jacobian = n * np.sum(np.log(omega * np.diag(chol)))
    assert float(c) == pytest.approx(float(nc) - jacobian, rel=1e-12)


def test_combined_error_sampled_as_total_sd_and_share_is_the_same_posterior(theoph_path):
    # (log a, log b) -> (u, v) = (log sqrt(a^2 + b^2 f_ref^2), logit(a^2 / (a^2 + b^2 f_ref^2)))
    # has |d(log a, log b) / d(u, v)| = 1/2, so the potential energy (minus the log density
    # on the sampler's unconstrained scale) is the plain model's plus log 2.
    import numpyro
    from numpyro.infer.util import potential_energy

    prep = run.prepare("pk_1cmt_oral", theoph_path, iiv=["cl"], error={"cp": "combined"})
    spec, data = prep.spec, prep.data
    assert spec.sigma_names == ("sigma_add_cp", "sigma_prop_cp")
    values = {"ka": 1.5, "cl": 0.04, "v": 0.45, "omega_cl": 0.3, "sigma_add_cp": 0.4,
              "sigma_prop_cp": 0.08}
    values = {k: jnp.asarray(v) for k, v in values.items()}
    z = jax.random.normal(jax.random.PRNGKey(0), (data["theta"].shape[0], 1))

    def plain(d):  # the textbook form: both SDs sampled directly from their priors
        v = {name: numpyro.sample(name, spec.priors[name]) for name in population.prior_sites(spec)}
        with numpyro.plate("id", d["theta"].shape[0]):
            zz = numpyro.sample("z", numpyro.distributions.Normal(0.0, 1.0).expand([1])
                                .to_event(1))
        _, per_subject, _, _ = population.subject_loglik(
            spec, v, population.eta_from_z(spec, v, zz), d, prep.solve)
        numpyro.factor("loglik", jnp.sum(per_subject))

    plain_u = {k: jnp.log(v) for k, v in values.items()} | {"z": z}
    sampled = population.to_sampled(spec, values, data)
    ref = float(data["error_reference"][0])
    u, v = sampled["log_sd_cp"], sampled["logit_additive_share_cp"]
    assert float(jnp.exp(2 * u)) == pytest.approx(0.4**2 + (0.08 * ref) ** 2, rel=1e-13)
    assert float(jax.nn.sigmoid(v)) == pytest.approx(0.4**2 / (0.4**2 + (0.08 * ref) ** 2),
                                                     rel=1e-13)
    back = population.from_sampled(spec, sampled, data)
    assert float(back["sigma_add_cp"]) == pytest.approx(0.4, rel=1e-13)
    assert float(back["sigma_prop_cp"]) == pytest.approx(0.08, rel=1e-13)
    ours_u = {k: (jnp.log(x) if k in ("ka", "cl", "v", "omega_cl") else x)
              for k, x in sampled.items()} | {"z": z}
    expected = float(potential_energy(plain, (data,), {}, plain_u)) + np.log(2.0)
    ours = float(potential_energy(population.numpyro_model(spec, prep.solve), (data,), {},
                                  ours_u))
    assert ours == pytest.approx(expected, rel=1e-12)


# -- M3 -------------------------------------------------------------------------------------
def one_cmt_oral(t, dose, cl, v, ka):
    k = cl / v
    return dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


def _censored_table(rng, n, params, omega, sigma_prop, sigma_add, lloq, dose=100.0):
    times = np.array([0.5, 1, 2, 4, 6, 8, 12, 16, 24, 36])
    rows = []
    for i in range(1, n + 1):
        ind = {k: v * np.exp(omega * rng.normal()) for k, v in params.items()}
        conc = one_cmt_oral(times, dose, **ind)
        dv = conc + np.hypot(sigma_add, sigma_prop * conc) * rng.normal(size=times.size)
        rows.append((i, 0.0, dose, 1, np.nan, 1, 1, 0, lloq))
        for t, y in zip(times, dv, strict=True):
            blq = int(y < lloq)
            rows.append((i, t, 0.0, 0, lloq if blq else y, 2, 0, blq, lloq))
    return pd.DataFrame(rows, columns=["ID", "TIME", "AMT", "EVID", "DV", "CMT", "MDV", "BLQ",
                                       "LLOQ"])


def test_m3_matches_a_hand_written_censored_likelihood():
    rng = np.random.default_rng(3)
    params = {"cl": 2.0, "v": 25.0, "ka": 1.2}
    frame = _censored_table(rng, 4, params, 0.3, 0.2, 0.05, lloq=0.8)
    assert 0 < frame.BLQ.sum() < 20
    for kind in ("additive", "proportional", "combined", "lognormal"):
        model = cp.load_model("pk_1cmt_oral")
        fit_prob = cp.problem(model, frame)
        obs = run.gather(fit_prob, "cp")
        spec, fixed = run.build_spec(
            model, fit_prob.dataset, ("cp",), iiv=["cl"], iiv_correlation=False,
            covariates=None, error={"cp": kind}, fixed=None, priors=None, estimate=None,
            dv_scale={"cp": 1.0})
        data = population.data_arrays(spec, fit_prob, obs, fit_prob.parameters(fixed),
                                      {"cp": 1e-9})
        eta = rng.normal(size=(4, 1)) * 0.2
        values = {**params, "omega_cl": 0.3}
        sig = {"additive": {"sigma_cp": 0.3}, "proportional": {"sigma_cp": 0.15},
               "combined": {"sigma_add_cp": 0.1, "sigma_prop_cp": 0.12},
               "lognormal": {"sigma_cp": 0.2}}[kind]
        values.update(sig)
        ll, _, failed, _ = population.subject_loglik(
            spec, {k: jnp.asarray(v) for k, v in values.items()}, jnp.asarray(eta), data,
            run.solver_for(fit_prob))
        assert not np.any(np.asarray(failed))

        expected = []
        for _, row in frame[frame.EVID == 0].iterrows():
            i = int(row.ID) - 1
            f = one_cmt_oral(row.TIME, 100.0, cl=params["cl"] * np.exp(eta[i, 0]),
                             v=params["v"], ka=params["ka"])
            if kind == "lognormal":
                s = sig["sigma_cp"]
                if row.BLQ:
                    expected.append(stats.norm.logcdf((np.log(row.LLOQ) - np.log(f)) / s))
                else:
                    expected.append(stats.lognorm.logpdf(row.DV, s, scale=f))
                continue
            sd = {"additive": 0.3, "proportional": 0.15 * f,
                  "combined": np.hypot(0.1, 0.12 * f)}[kind]
            if row.BLQ:
                expected.append(stats.norm.logcdf(row.LLOQ, loc=f, scale=sd))
            else:
                expected.append(stats.norm.logpdf(row.DV, loc=f, scale=sd))
        np.testing.assert_allclose(np.asarray(ll), expected, rtol=1e-9, atol=1e-12,
                                   err_msg=kind)


def test_m3_beats_dropping_blq_rows():
    rng = np.random.default_rng(11)
    truth = {"cl": 2.0, "v": 25.0, "ka": 1.2}
    frame = _censored_table(rng, 24, truth, 0.25, 0.15, 0.02, lloq=1.5)
    blq_fraction = frame.BLQ.sum() / (frame.EVID == 0).sum()
    assert 0.15 < blq_fraction < 0.5
    options = dict(iiv=["cl", "v", "ka"], error={"cp": "combined"})
    m3 = cp.fit("pk_1cmt_oral", frame, method="map", **options)
    dropped = cp.fit("pk_1cmt_oral", frame[frame.BLQ == 0].drop(columns=["BLQ", "LLOQ"]),
                     method="map", **options)

    def bias(fit):
        est = fit.provenance["map_estimates"]
        return sum(abs(est[k] / v - 1) for k, v in truth.items())

    assert bias(m3) < bias(dropped)
    assert bias(m3) < 0.25


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    (dict(iiv=["kq"]), "not a parameter"),
    (dict(iiv=["ka"], fixed={"ka": 1.0}), "which is fixed"),
    (dict(error={"cp": "poisson"}), "is not one of"),
    (dict(error={"cq": "additive"}), "not outputs"),
    (dict(covariates={"cl": ("WTX", "power", 70.0)}), "data do not have"),
    (dict(covariates={"cl": ("WT", "quadratic", 70.0)}), "form 'quadratic'"),
    (dict(fixed={"cl": -1.0}), "fixed="),
    (dict(priors={"omega_cl": 1.0}), "which the fit does not estimate"),
    (dict(method="laplace"), "method="),
    (dict(parameterization="center"), "parameterization='center' is not one of"),
    (dict(chains=0), "chains=0"),
    (dict(warmup_tree_depth=0), "warmup_tree_depth=0 must be a positive integer"),
    # The Laplace gradient would differentiate ODE sensitivities twice: a named refusal,
    # raised before anything compiles, instead of JAX's while_loop error from inside L-BFGS.
    (dict(method="map", iiv=["cl"], solver=cp.Solver(method="rodas4")),
     "method='map' with random effects"),
    (dict(init="map", iiv=["cl"], solver=cp.Solver(method="rodas4")),
     "init='map' with random effects"),
])
def test_bad_options_are_named(theoph_path, options, message):
    with pytest.raises(ParameterError, match=message):
        cp.fit("pk_1cmt_oral", theoph_path, **options)


def test_bad_observation_rows_are_named():
    text = "ID,TIME,AMT,EVID,CMT,DV,MDV,BLQ,DVID\n1,0,100,1,1,.,1,0,.\n1,1,0,0,2,.,0,1,.\n"
    with pytest.raises(DataError, match="no LLOQ"):
        cp.fit("pk_1cmt_oral", io.StringIO(text), method="map")
    text = "ID,TIME,AMT,EVID,CMT,DV,MDV,DVID\n1,0,100,1,1,.,1,.\n1,1,0,0,2,3.0,0,2\n"
    with pytest.raises(DataError, match="DVID 2 names no output"):
        cp.fit("pk_1cmt_oral", io.StringIO(text), method="map")


def test_failed_solves_give_minus_infinity_and_finite_gradients():
    text = "ID,TIME,AMT,EVID,CMT,DV,MDV\n1,0,100,1,1,.,1\n1,24,0,0,1,3.0,0\n2,0,100,1,1,.,1\n" \
           "2,24,0,0,1,2.0,0\n"
    model = cp.load_model("pk_1cmt_mm")
    prob = cp.problem(model, io.StringIO(text), solver=cp.Solver(method="tsit5", max_steps=2))
    obs = run.gather(prob, model.output_names[0])
    spec, fixed = run.build_spec(
        model, prob.dataset, (model.output_names[0],), iiv=[model.param_names[0]],
        iiv_correlation=False, covariates=None, error=None, fixed=None, priors=None,
        estimate=None, dv_scale={model.output_names[0]: 1.0})
    data = population.data_arrays(spec, prob, obs, prob.parameters(fixed),
                                  {model.output_names[0]: 1e-9})
    from numpyro.infer.util import log_density

    counts = []
    nmodel = population.numpyro_model(spec, prob.compiled, count_failures=counts.append)
    values = {p.name: p.value for p in model.params}
    values.update({f"omega_{model.param_names[0]}": 0.3, spec.sigma_names[0]: 0.2,
                   "z": jnp.zeros((2, 1))})

    def logp(v):
        return log_density(nmodel, (data,), {}, v)[0]

    value = logp(values)
    grads = jax.grad(logp)(values)
    assert value == -np.inf
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))
    assert int(np.sum(counts[0])) == 2
