"""The `Fit` object: an ArviZ `InferenceData` with the population model's names, and what a
pharmacometrician reads from it (summary, individual parameters, predictions, diagnostics).
Saved as NetCDF plus a provenance record; `load_fit` reads it back."""

from __future__ import annotations

import hashlib
import json
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from ..atomic import atomic_path
from .population import eta_from_z, individual_theta, predict_observations, subject_loglik

SUMMARY_COLUMNS = ["mean", "sd", "median", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk", "ess_tail"]
_CHUNK = 256


@dataclass(eq=False)
class FitRecord:
    """Everything a fit was built from (not saved; rebuilt by `load_fit` when needed)."""

    model: object
    dataset: object
    prob: object
    obs: object
    spec: object
    data: dict
    solve: object
    options: dict = field(default_factory=dict)


@dataclass
class Diagnostics:
    divergences: int
    max_rhat: float
    max_rhat_name: str
    min_ess_bulk: float
    min_ess_tail: float
    min_ess_name: str
    solver_failures: dict
    max_tree_depth_hits: int
    messages: list

    def __str__(self) -> str:
        lines = [
            f"divergences: {self.divergences}",
            f"max R-hat: {self.max_rhat:.4f} ({self.max_rhat_name})",
            f"min ESS bulk / tail: {self.min_ess_bulk:.0f} / {self.min_ess_tail:.0f} "
            f"({self.min_ess_name})",
            ("solver failures (subjects x evaluations): "
             + ", ".join(f"{k} {v}" for k, v in self.solver_failures.items()))
            if self.solver_failures else
            "solver failures: none possible (exact linear solution; a non-finite value would "
            "be rejected and counted as a divergence)",
            f"transitions at max tree depth: {self.max_tree_depth_hits}",
        ]
        lines += [f"WARNING: {m}" for m in self.messages]
        return "\n".join(lines)


class Fit:
    """A population fit. ``idata`` is its ArviZ `InferenceData`."""

    def __init__(self, idata, provenance: dict, record: FitRecord | None = None):
        self.idata = idata
        self.provenance = provenance
        self._record = record

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_draws(cls, record, draws, stats, counter, key, elapsed, extra=None):
        derived = _derived(record, draws)
        idata = _inference_data(record, draws, derived, stats, counter)
        prov = _provenance(record, elapsed, counter)
        if extra and "svi_loss" in extra:
            loss = xr.DataArray(extra["svi_loss"], dims=["svi_step"])
            if "sample_stats" in idata.groups():
                idata.sample_stats["svi_loss"] = loss
            else:  # arviz drops an empty group
                idata.add_groups(sample_stats=xr.Dataset({"svi_loss": loss}))
        fit = cls(idata, prov, record)
        if record.options.get("method") == "nuts":
            for message in fit.diagnostics().messages:
                warnings.warn(message, RuntimeWarning, stacklevel=3)
        return fit

    @classmethod
    def from_map(cls, record, values, z_hat, laplace, key, elapsed, n_draws=2000):
        """The mode, and draws from the Laplace (normal) approximation on the unconstrained
        scale for standard errors and intervals; random effects at their conditional modes."""
        spec = record.spec
        mode = {k: np.asarray(v) for k, v in values.items()}
        if laplace is not None and np.all(np.isfinite(laplace[2])):
            pack, x, cov, _ = laplace
            chol = np.linalg.cholesky(cov + 1e-12 * np.eye(len(x)))
            noise = np.asarray(jax.random.normal(key, (n_draws, len(x))))
            flats = x[None] + noise @ chol.T
            to_values = jax.jit(jax.vmap(lambda f: pack.values(f, {})))
            sampled = {k: np.asarray(v) for k, v in to_values(jnp.asarray(flats)).items()}
        else:
            sampled = {k: np.broadcast_to(v, (1, *np.shape(v))) for k, v in mode.items()}
        n = next(iter(sampled.values())).shape[0]
        draws = {k: v[None] for k, v in sampled.items()}
        if spec.iiv:
            draws["z"] = np.broadcast_to(z_hat, (1, n, *z_hat.shape)).copy()
        mode_draws = {k: np.asarray(v)[None, None] for k, v in mode.items()}
        if spec.iiv:
            mode_draws["z"] = np.asarray(z_hat)[None, None]
        derived = _derived(record, draws)
        mode_derived = _derived(record, mode_draws)
        idata = _inference_data(record, draws, derived, None, None)
        for name in ("ipred", "pred", "individual"):  # point predictions at the mode
            idata.posterior[name].values[:] = mode_derived[name][0, 0][None, None]
        prov = _provenance(record, elapsed, None)
        prov["map_estimates"] = _mode_scalars(mode, spec)
        if laplace is not None:
            prov["laplace_objective"] = laplace[3]
        return cls(idata, prov, record)

    # -- reading ---------------------------------------------------------------------------------
    @property
    def population_names(self) -> list[str]:
        return list(self.provenance["population_names"])

    @property
    def method(self) -> str:
        return self.provenance["options"]["method"]

    def population_draws(self) -> xr.Dataset:
        """Each population quantity as a (chain, draw) variable, by its summary name."""
        post = self.idata.posterior
        out = {}
        for name in self.population_names:
            if name.startswith("corr_"):
                a, b = _corr_pair(name, self.provenance["options"]["iiv"])
                out[name] = post["omega_corr"].isel(iiv=a, iiv_=b).drop_vars(
                    ["iiv", "iiv_"], errors="ignore")
            else:
                out[name] = post[name]
        return xr.Dataset(out)

    def summary(self) -> pd.DataFrame:
        """Population parameters: mean, sd, median, 94% HDI, R-hat and ESS (MAP fits add the
        mode as ``map``)."""
        ds = self.population_draws()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = az.summary(ds, hdi_prob=0.94, round_to="none",
                               stat_funcs={"median": np.median}, extend=True)
        table = table[SUMMARY_COLUMNS]
        if "map_estimates" in self.provenance:
            table["map"] = [self.provenance["map_estimates"][n] for n in table.index]
        table.index.name = "parameter"
        return table

    def individual(self) -> pd.DataFrame:
        """Per-subject parameters: posterior median and 90% interval (MAP: the EBE)."""
        ind = self.idata.posterior["individual"]
        flat = ind.stack(sample=("chain", "draw"))
        q = flat.quantile([0.05, 0.5, 0.95], dim="sample")
        frame = q.to_dataframe(name="value")["value"].unstack("quantile")
        frame.columns = ["q5", "median", "q95"]
        return frame

    def predict(self) -> pd.DataFrame:
        """One row per observation: DV, BLQ, PRED (typical subject), IPRED (individual),
        and residuals: RES = DV - PRED, IRES = DV - IPRED, IWRES = IRES / SD(IPRED)."""
        obs = self.idata.observed_data
        const = self.idata.constant_data
        post = self.idata.posterior
        med = lambda v: post[v].median(("chain", "draw")).values  # noqa: E731
        pred, ipred = med("pred"), med("ipred")
        frame = pd.DataFrame({
            "ID": obs["id"].values, "TIME": obs["time"].values, "ROW": obs["row"].values,
            "output": obs["output"].values, "DV": obs["y"].values,
            "BLQ": const["censored"].values.astype(int), "LLOQ": const["lloq"].values,
            "PRED": pred, "IPRED": ipred,
        })
        sd = self._residual_sd(frame.output.to_numpy(), ipred)
        frame["RES"] = frame.DV - frame.PRED
        frame["IRES"] = frame.DV - frame.IPRED
        frame["IWRES"] = frame.IRES / sd
        log_rows = self._kinds(frame.output.to_numpy()) == "lognormal"
        with np.errstate(divide="ignore", invalid="ignore"):
            frame.loc[log_rows, "IWRES"] = (np.log(frame.DV[log_rows])
                                            - np.log(frame.IPRED[log_rows])) / sd[log_rows]
        censored = frame.BLQ == 1
        frame.loc[censored, ["RES", "IRES", "IWRES"]] = np.nan
        return frame

    def _kinds(self, outputs):
        kinds = self.provenance["options"]["error"]
        return np.array([kinds[o] for o in outputs])

    def _residual_sd(self, outputs, ipred):
        """SD of each observation's residual error at its IPRED, from the posterior medians
        of the error model's SDs (log-scale SD for log-normal outputs)."""
        post = self.idata.posterior
        sd = np.empty(len(outputs))
        for o, kind in self.provenance["options"]["error"].items():
            rows = outputs == o
            f = ipred[rows]
            if kind == "combined":
                sd[rows] = np.hypot(float(post[f"sigma_add_{o}"].median()),
                                    float(post[f"sigma_prop_{o}"].median()) * f)
                continue
            sigma = float(post[f"sigma_{o}"].median())
            sd[rows] = sigma * np.abs(f) if kind == "proportional" else sigma
        return sd

    def diagnostics(self) -> Diagnostics:
        stats = self.idata.get("sample_stats")
        messages = []
        divergences = 0
        depth_hits = 0
        if stats is not None and "diverging" in stats:
            divergences = int(stats["diverging"].sum())
            max_depth = self.provenance["options"].get("max_tree_depth", 10)
            depth_hits = int((stats["n_steps"] >= 2**max_depth - 1).sum())
        table = self.summary()
        multi_chain = self.idata.posterior.sizes["chain"] > 1 and self.method == "nuts"
        rhat = table["r_hat"].astype(float) if multi_chain else pd.Series(np.nan, table.index)
        ess_b, ess_t = table["ess_bulk"].astype(float), table["ess_tail"].astype(float)
        failures = self.provenance.get("solver_failures", {})
        if divergences:
            messages.append(f"{divergences} divergences: try target_accept=0.95 or fewer IIV "
                            "terms (or stronger priors on the omegas)")
        if multi_chain and rhat.max() > 1.01:
            messages.append(f"max R-hat {rhat.max():.3f} ({rhat.idxmax()}): the chains disagree; "
                            "run longer (warmup=, samples=) or look for multiple modes")
        n_chain = self.idata.posterior.sizes["chain"]
        if self.method == "nuts" and ess_b.min() < 100 * n_chain:
            messages.append(f"min ESS {ess_b.min():.0f} ({ess_b.idxmin()}) is below "
                            f"{100 * n_chain}: run more samples")
        if depth_hits:
            messages.append(f"{depth_hits} transitions hit the max tree depth: raise "
                            "max_tree_depth or reparameterise (fewer, better-identified terms)")
        sampling_failures = failures.get("sampling", 0) + failures.get("warmup", 0)
        if sampling_failures:
            messages.append(f"{sampling_failures} failed ODE solves (subject evaluations) "
                            "during warmup and sampling were rejected: consider a stiff method, "
                            "looser tolerances or tighter priors")
        return Diagnostics(
            divergences=divergences,
            max_rhat=float(rhat.max()) if multi_chain else float("nan"),
            max_rhat_name=str(rhat.idxmax()) if multi_chain else "",
            min_ess_bulk=float(ess_b.min()), min_ess_tail=float(ess_t.min()),
            min_ess_name=str(ess_b.idxmin()), solver_failures=dict(failures),
            max_tree_depth_hits=depth_hits, messages=messages)

    # -- saving ----------------------------------------------------------------------------------
    def save(self, directory) -> Path:
        """Write ``posterior.nc``, ``data.csv`` and ``provenance.json`` into ``directory``,
        each atomically; the provenance is written last, so a directory with it is complete."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "posterior.nc") as tmp:
            self.idata.to_netcdf(str(tmp), engine="h5netcdf")
        if self._record is not None:
            self._record.dataset.write_nonmem(directory / "data.csv")
        with atomic_path(directory / "provenance.json") as tmp:
            tmp.write_text(json.dumps(self.provenance, indent=2, default=_json_default))
        return directory

    def __repr__(self) -> str:
        post = self.idata.posterior
        return (f"Fit({self.provenance['model']}, method={self.method}, "
                f"{post.sizes['chain']} chain(s) x {post.sizes['draw']} draws, "
                f"{len(self.population_names)} population parameters)")


def load_fit(directory) -> Fit:
    """Read a fit written by `Fit.save`."""
    directory = Path(directory)
    prov_path = directory / "provenance.json"
    if not prov_path.exists():
        raise FileNotFoundError(f"{directory} has no provenance.json: not a saved fit, or the "
                                "save did not finish")
    provenance = json.loads(prov_path.read_text())
    # Eager, so the file is not held open: a later save into the same directory replaces it.
    idata = az.from_netcdf(str(directory / "posterior.nc"), engine="h5netcdf").load()
    return Fit(idata, provenance)


# -- building the InferenceData ----------------------------------------------------------------
def _derived(record, draws):
    """Per draw: eta, individual parameters, predictions (individual and typical), pointwise
    log-likelihood and failures; computed in chunks of draws."""
    spec, data, solve = record.spec, record.data, record.solve
    est_cols = np.array([e.column for e in spec.estimated])
    n_sub = data["theta"].shape[0]
    first = next(iter(draws.values()))
    c, d = first.shape[:2]
    flat = {k: np.asarray(v).reshape(c * d, *np.shape(v)[2:]) for k, v in draws.items()}

    @jax.jit
    @jax.vmap
    def one(values):
        z = values.get("z", jnp.zeros((n_sub, 0)))
        eta = eta_from_z(spec, values, z)
        theta, _ = individual_theta(spec, values, eta, data)
        ll, _, failed, f = subject_loglik(spec, values, eta, data, solve)
        theta0, _ = individual_theta(spec, values, jnp.zeros_like(eta), data)
        f0, _ = predict_observations(theta0, data, solve)
        return {"eta": eta, "individual": theta[:, est_cols], "loglik": ll, "ipred": f,
                "pred": f0, "failed": failed}

    n = c * d
    size = _chunk_size(record, n)
    parts = []
    for start in range(0, n, size):
        idx = np.arange(start, start + size)
        idx = np.where(idx < n, idx, start)
        chunk = {k: jnp.asarray(v[idx]) for k, v in flat.items()}
        out = jax.device_get(one(chunk))
        keep = min(size, n - start)
        parts.append({k: v[:keep] for k, v in out.items()})
    return {k: np.concatenate([p[k] for p in parts]).reshape(c, d, *parts[0][k].shape[1:])
            for k in parts[0]}


def _chunk_size(record, n: int) -> int:
    """Draws per compiled call. An ODE solve is vmapped over subjects already, and vmapping
    it over draws too runs every draw's subjects in lockstep with the slowest (a padded
    chunk of 256 draws cost minutes): one draw per call, compiled once. The exact solution
    has no step control and vectorises well: equal chunks of at most `_CHUNK`, so padding
    is less than one draw per chunk."""
    if record.prob.solver.method != "closed_form":
        return 1
    chunks = -(-n // _CHUNK)
    return -(-n // chunks)


def _mode_scalars(mode, spec) -> dict:
    """Population quantities at the mode, by summary name."""
    out = {}
    for name in spec.population_names:
        if name.startswith("corr_"):
            i, j = _corr_pair(name, spec.iiv)
            chol = np.asarray(mode["L_omega"])
            out[name] = float((chol @ chol.T)[i, j])
        else:
            out[name] = float(np.asarray(mode[name]))
    return out


def _inference_data(record, draws, derived, stats, counter):
    spec, obs = record.spec, record.obs
    ids = [str(i) if not isinstance(i, (int, np.integer)) else int(i) for i in record.prob.ids]
    post = {}
    for name in spec.population_names:
        if not name.startswith("corr_"):
            post[name] = (("chain", "draw"), np.asarray(draws[name]))
    coords = {"id": ids, "iiv": list(spec.iiv), "parameter": list(spec.estimated_names),
              "obs": np.arange(len(obs))}
    if spec.iiv:
        post["z"] = (("chain", "draw", "id", "iiv"), np.asarray(draws["z"]))
        post["eta"] = (("chain", "draw", "id", "iiv"), derived["eta"])
    if spec.iiv_correlation:
        chol = np.asarray(draws["L_omega"])
        post["L_omega"] = (("chain", "draw", "iiv", "iiv_"), chol)
        post["omega_corr"] = (("chain", "draw", "iiv", "iiv_"),
                              chol @ np.swapaxes(chol, -1, -2))
        coords["iiv_"] = list(spec.iiv)
    post["individual"] = (("chain", "draw", "id", "parameter"), derived["individual"])
    post["ipred"] = (("chain", "draw", "obs"), derived["ipred"])
    post["pred"] = (("chain", "draw", "obs"), derived["pred"])
    posterior = xr.Dataset(post, coords={k: v for k, v in coords.items()
                                         if k in {"id", "iiv", "iiv_", "parameter", "obs"}})
    model = record.model
    units = {p.name: p.unit for p in model.params}
    for name in spec.estimated_names:
        posterior[name].attrs["units"] = units[name]
    posterior["individual"].attrs["units"] = ", ".join(
        f"{n} [{units[n]}]" for n in spec.estimated_names)

    obs_coords = {"obs": np.arange(len(obs)), "id": ("obs", np.asarray(obs.id).astype(
        type(ids[0]) if ids else float)), "time": ("obs", obs.time),
        "output": ("obs", np.asarray(obs.output_names, dtype=str)),
        "row": ("obs", obs.row)}
    observed = xr.Dataset({"y": (("obs",), obs.dv)}, coords=obs_coords)
    observed["time"].attrs["units"] = model.time_unit
    loglik = xr.Dataset({"y": (("chain", "draw", "obs"), derived["loglik"])},
                        coords={"obs": np.arange(len(obs))})
    constant = xr.Dataset({
        "censored": (("obs",), obs.censored.astype(np.int8)),
        "lloq": (("obs",), obs.lloq),
        "subject_failed": (("chain", "draw", "id"), derived["failed"].astype(np.int8)),
    }, coords={"obs": np.arange(len(obs)), "id": ids})
    for k, c in enumerate(spec.effects):
        name = f"cov_{c.covariate}"
        if name not in constant:
            constant[name] = (("id",), np.asarray(record.data["cov"])[:, k])
    groups = {"posterior": posterior, "observed_data": observed, "log_likelihood": loglik,
              "constant_data": constant}
    if stats is not None:
        ss = {
            "diverging": stats["diverging"].astype(bool),
            "n_steps": stats["num_steps"],
            "tree_depth": np.floor(np.log2(stats["num_steps"])) + 1,
            "acceptance_rate": stats["accept_prob"],
            "energy": stats["energy"],
            "lp": -stats["potential_energy"],
            "step_size": stats["step_size"],
        }
        sample_stats = xr.Dataset({k: (("chain", "draw"), np.asarray(v)) for k, v in ss.items()})
    else:
        sample_stats = xr.Dataset()
    if counter is not None and counter.tracked:
        sample_stats.attrs["solver_failures_warmup"] = counter.counts["warmup"]
        sample_stats.attrs["solver_failures_sampling"] = counter.counts["sampling"]
        sample_stats["solver_failures"] = xr.DataArray(
            np.array([counter.counts["init"], counter.counts["warmup"],
                      counter.counts["sampling"]]), dims=["phase"],
            coords={"phase": ["init", "warmup", "sampling"]})
    groups["sample_stats"] = sample_stats
    return az.InferenceData(**groups)


def _provenance(record, elapsed, counter) -> dict:
    import numpyro

    import cellpkpd

    table_bytes = record.dataset.to_dataframe().to_csv(index=False).encode()
    return {
        "model": record.model.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seed": record.options.get("seed"),
        "data_sha256": hashlib.sha256(table_bytes).hexdigest(),
        "data_source": record.dataset.source,
        "versions": {"cellpkpd": cellpkpd.__version__, "jax": jax.__version__,
                     "numpyro": numpyro.__version__, "arviz": az.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "options": record.options,
        "population_names": list(record.spec.population_names),
        "spec": record.spec.describe(),
        "elapsed_s": elapsed,
        "solver_failures": (dict(counter.counts)
                            if counter is not None and counter.tracked else {}),
    }


def _corr_pair(name, iiv):
    body = name[len("corr_"):]
    for i, a in enumerate(iiv):
        for j, b in enumerate(iiv):
            if j > i and body == f"{a}_{b}":
                return i, j
    raise KeyError(name)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
