"""`cellpkpd.fit`: a population model from options, then NUTS, SVI or a Laplace MAP."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro.infer import SVI, Trace_ELBO, init_to_value
from numpyro.infer.autoguide import AutoNormal

from .. import superposition
from ..errors import ParameterError
from ..flows import active_states
from ..nonmem import read_nonmem
from ..sensitivities import adjoint_solver, sensitivity_solver
from ..simulation import _as_model, problem
from ..solver import Solver
from .observations import gather
from .optimize import initial_values, laplace_fit, pooled_fit
from .population import (
    data_arrays,
    from_sampled,
    numpyro_model,
    prior_sites,
    psi_from_z,
    random_effect_site,
    sampled_sites,
    to_sampled,
    z_from_psi,
)  # fmt: skip
from .results import Fit, FitRecord
from .sampler import NutsSettings, run_nuts, unconstrained
from .spec import build_spec, covariate_entries

METHODS = ("nuts", "svi", "map")
PARAMETERIZATIONS = ("noncentered", "centered")


class FailureCounter:
    """Host-side count of failed solves (subjects) seen by the log-density, by phase.

    Counting costs a host callback per log-density evaluation (~0.4 ms on 2 CPU cores, more
    than a whole gradient of the exact linear solution), so it is done only where a solve can
    fail: ODE solves. The exact superposition path cannot hit a step limit; an overflow there
    still gives -inf, which the sampler rejects and reports as a divergence.
    """

    def __init__(self, tracked: bool = True):
        self.tracked = tracked
        self.phase = "init"
        self.counts = {"init": 0, "warmup": 0, "sampling": 0}

    def __call__(self, n_failed):
        self.counts[self.phase] += int(np.asarray(n_failed).sum())


def fit(model, data, *, iiv=(), iiv_correlation: bool = False, covariates: Mapping | None = None,
        error: Mapping | None = None, fixed: Mapping | None = None,
        priors: Mapping | None = None, estimate=None, method: str = "nuts", chains: int = 4,
        warmup: int = 500, samples: int = 500, seed: int = 0, target_accept: float = 0.8,
        max_tree_depth: int = 10, warmup_tree_depth: int | None = None, init="pooled",
        svi_steps: int = 3000,
        svi_learning_rate: float = 0.01, solver: Solver | None = None,
        dvid: Mapping | None = None, progress: bool = False,
        dense_mass: bool = False, checkpoint=None, init_starts: int | None = None,
        parameterization: str = "noncentered") -> Fit:
    """Fit a hierarchical (population) model to ``data``.

    Parameters
    ----------
    model : Model or str
    data : Dataset, path or DataFrame (NONMEM format). Observations are EVID 0, MDV 0 rows;
        DVID names the output (a name, or a number mapped by ``dvid``); rows without DVID
        observe the model's first output, or the one output ``error`` names. BLQ rows, and
        rows with DV < LLOQ, enter through the M3 likelihood.
    iiv : list of parameter names, or {name: omega prior or HalfNormal scale}
        Parameters with inter-individual variability: log-normal for positive parameters,
        logit-normal for bounded ones (fractions), normal otherwise.
    iiv_correlation : bool
        A full Omega with an LKJ(2) prior on its correlations; diagonal otherwise.
    covariates : {param: (COLUMN, form, reference) or a list of them}
        Forms ``power``, ``exponential``, ``linear`` and ``categorical`` (reference = the
        reference level; one effect per other level). Each subject's baseline value is used.
    error : {output: kind}
        ``additive``, ``proportional``, ``combined`` or ``lognormal``; an output not named
        takes its declared `ResidualError` kind, else ``proportional``.
    fixed : {param: value}
        Parameters held at a value. Every other parameter is estimated, unless
        ``estimate=[...]`` lists the estimated ones (then the rest stay at their defaults).
    priors : {site: numpyro distribution}
        Replace default priors (see `cellpkpd.fitting.spec` for the rule) for typical values
        (by parameter name), ``omega_<p>``, ``beta_<p>_<COV>``, ``sigma_<output>``
        (``sigma_add_``/``sigma_prop_`` for combined) and ``L_omega``.
    method : {"nuts", "svi", "map"}
        NUTS; SVI with a mean-field normal guide; or the Laplace MAP of the population
        parameters (random effects integrated out, as NONMEM's LAPLACIAN), with standard
        errors from the Hessian. With random effects, ``map`` needs an exact solution
        (linear models): on ODE models it is refused, as its gradient would differentiate
        the sensitivities twice.
    chains, warmup, samples, seed, target_accept, max_tree_depth :
        NUTS settings. Chains are vectorised on one device, or split over the host devices
        there are (``numpyro.set_host_device_count``).
    warmup_tree_depth : int, optional
        A lower cap on the tree depth during warmup only (NumPyro's ``(warmup, sampling)``
        depths); default: ``max_tree_depth``. Early in warmup, and after each mass-matrix
        window restarts the step size, trajectories run long before the step size has
        adapted; capping them (4: at most 15 leapfrog steps) makes warmup cheaper where a
        gradient is expensive. Warmup draws are discarded, so the posterior is unchanged;
        what it can cost is a worse adapted mass matrix, which the sampling-phase tree
        depth and ESS show.
    init : "pooled", "map" or {site: value}
        Where the chains start: a pooled fit (random effects at zero) for the typical values
        and residual SDs, the Laplace MAP, or given values. All chains start near the same
        point (jittered with the seed), so they cannot split between modes such as the
        flip-flop of absorption and elimination.
    init_starts : int, optional
        Starts of the pooled fit (the first from the defaults, the others jittered around
        them, the best kept). Default 8 where the exact superposition solution applies, where
        a start costs well under a second, and 1 for ODE models, where a start costs minutes;
        raise it when the model may have several modes.
    solver : Solver, optional
        ODE settings. Linear models use an exact superposition solution when the data allow.
    progress : bool
        Print NUTS progress (iterations, time, step size, divergences) every chunk.
    dense_mass : bool
        Adapt a dense mass matrix instead of a diagonal one. Either way warmup starts from a
        diagonal one, the inverse curvature of the posterior along each coordinate at each
        chain's start (`cellpkpd.fitting.sampler.jacobi_inverse_mass`), not the identity.
    checkpoint : path, optional
        NUTS writes its state and draws there (atomically) after every chunk of iterations,
        and a later call with the same path and settings continues from it.
    parameterization : {"noncentered", "centered"}
        What NUTS and SVI sample for the random effects: standard normal ``z`` (the default;
        best when the data say little about each subject), or each subject's parameter on its
        IIV scale (best when every subject is richly sampled, so that the data pin its
        value: the non-centered form then needs many small leapfrog steps). The model and
        the posterior are the same; the posterior holds ``z`` and ``eta`` either way.

    Returns
    -------
    Fit
    """
    if method not in METHODS:
        raise ParameterError(f"method={method!r} is not one of {METHODS}")
    if parameterization not in PARAMETERIZATIONS:
        raise ParameterError(f"parameterization={parameterization!r} is not one of "
                             f"{PARAMETERIZATIONS}")
    centered = parameterization == "centered"
    counts = [("chains", chains), ("warmup", warmup), ("samples", samples),
              ("max_tree_depth", max_tree_depth)]
    if warmup_tree_depth is not None:
        counts.append(("warmup_tree_depth", warmup_tree_depth))
    for name, value in counts:
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ParameterError(f"{name}={value!r} must be a positive integer")
    _check_settings(seed, target_accept)
    started = time.perf_counter()
    prep = prepare(model, data, iiv=iiv, iiv_correlation=iiv_correlation,
                   covariates=covariates, error=error, fixed=fixed, priors=priors,
                   estimate=estimate, solver=solver, dvid=dvid)
    model, dataset, prob, obs, spec = prep.model, prep.dataset, prep.prob, prep.obs, prep.spec
    fixed_values, data_tree, solve, dv_scale = (prep.fixed_values, prep.data, prep.solve,
                                                prep.dv_scale)

    if (method == "map" or init == "map") and spec.iiv and not prep.exact:
        what = "method='map'" if method == "map" else "init='map'"
        raise ParameterError(
            f"{what} with random effects ({', '.join(spec.iiv)}) needs the Laplace "
            "approximation's gradient, which differentiates the ODE sensitivities a second "
            f"time; the ODE engine provides first derivatives only, so {model.name} cannot "
            "use it. Use method='nuts' (init='pooled') or method='svi', drop iiv for a pooled "
            "MAP, or use a model with an exact solution (solver=Solver(method='closed_form'))")
    values0 = initial_values(spec, data_tree, dv_scale,
                             init if isinstance(init, Mapping) else None)
    record = FitRecord(model=model, dataset=dataset, prob=prob, obs=obs, spec=spec,
                       data=data_tree, solve=solve, options=dict(
                           iiv=list(spec.iiv), iiv_correlation=iiv_correlation,
                           covariates=_plain_covariates(covariates), error=dict(
                               (e.output, e.kind) for e in spec.errors),
                           fixed=fixed_values, estimate=list(spec.estimated_names),
                           method=method, chains=chains, warmup=warmup, samples=samples,
                           seed=seed, target_accept=target_accept,
                           max_tree_depth=max_tree_depth,
                           warmup_tree_depth=warmup_tree_depth, dvid=_plain_dvid(dvid),
                           parameterization=parameterization))
    counter = FailureCounter(tracked=not prep.exact)
    key = jax.random.PRNGKey(seed)
    if init_starts is None:
        init_starts = 8 if prep.exact else 1
    elif not (isinstance(init_starts, (int, np.integer)) and init_starts >= 1):
        raise ParameterError(f"init_starts={init_starts!r} must be a positive integer")

    def pooled(values):
        return pooled_fit(spec, data_tree, solve, values, n_starts=init_starts)

    if method == "map":
        values, z_hat, laplace = laplace_fit(spec, data_tree, solve, pooled(values0),
                                             pooled_starts=1)
        return Fit.from_map(record, values, z_hat, laplace, key,
                            elapsed=time.perf_counter() - started)

    if init == "pooled" or init is None:
        start = pooled(values0)
        z_start = None
        if progress:
            print(f"pooled fit (the chains' start) done at {time.perf_counter() - started:.1f} s",
                  flush=True)
    elif init == "map":
        start, z_start, _ = laplace_fit(spec, data_tree, solve, pooled(values0),
                                        pooled_starts=1)
    elif isinstance(init, Mapping):
        start, z_start = values0, None
    else:
        raise ParameterError(f"init={init!r} must be 'pooled', 'map' or a dict of values")
    start = {**values0, **start}

    nmodel = numpyro_model(spec, solve, count_failures=counter if counter.tracked else None,
                           centered=centered)
    if method == "svi":
        init_sites = _init_sites(spec, start, z_start, data_tree)
        if centered and spec.iiv:
            init_sites["psi"] = psi_from_z(spec, start, init_sites.pop("z"), data_tree)
        guide = AutoNormal(nmodel, init_loc_fn=init_to_value(values=init_sites))
        svi = SVI(nmodel, guide, numpyro.optim.Adam(svi_learning_rate), Trace_ELBO())
        counter.phase = "warmup"
        key, run_key, draw_key = jax.random.split(key, 3)
        result = svi.run(run_key, svi_steps, data_tree, progress_bar=progress)
        counter.phase = "sampling"
        draws = guide.sample_posterior(draw_key, result.params, sample_shape=(samples,),
                                       data=data_tree)
        draws = _population_draws(spec, {k: np.asarray(v)[None] for k, v in draws.items()
                                         if k in _sites(spec, centered)}, data_tree)
        return Fit.from_draws(record, draws, None, counter, key,
                              elapsed=time.perf_counter() - started,
                              extra={"svi_loss": np.asarray(result.losses)})

    key, jitter_key, run_key = jax.random.split(key, 3)
    init_z = _jittered_init(spec, numpyro_model(spec, solve), data_tree, start, z_start,
                            chains, jitter_key, centered)
    settings = NutsSettings(warmup=warmup, samples=samples, target_accept=target_accept,
                            max_tree_depth=max_tree_depth,
                            warmup_tree_depth=warmup_tree_depth, dense_mass=dense_mass)

    def set_phase(phase):
        counter.phase = phase

    draws, stats = run_nuts(nmodel, data_tree, init_z, settings, run_key, progress=progress,
                            on_phase=set_phase, checkpoint=checkpoint)
    draws = _population_draws(spec, draws, data_tree)
    return Fit.from_draws(record, draws, stats, counter, key,
                          elapsed=time.perf_counter() - started)


def _check_settings(seed, target_accept) -> None:
    """Settings that would otherwise fail only after the fit (a negative seed) or be
    silently clipped (target_accept), checked before anything compiles."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a whole number >= 0 (a JAX PRNG seed)")
    ok = isinstance(target_accept, (int, float, np.floating)) and not isinstance(
        target_accept, bool)
    if not (ok and 0 < float(target_accept) < 1):
        raise ParameterError(f"target_accept={target_accept!r} must be a number in (0, 1), "
                             "e.g. 0.8 (0.9-0.95 where divergences remain)")


def default_output_for(model, error) -> str | None:
    """The output that observations without DVID measure: the model's only output, or the
    one output ``error`` names; None when that is ambiguous (then each needs a DVID)."""
    names = model.output_names
    if len(names) == 1:
        return names[0]
    if error and len(error) == 1 and next(iter(error)) in names:
        return next(iter(error))
    return None


def _check_dvid_map(model, dvid) -> None:
    for key, name in (dvid or {}).items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise ParameterError(f"dvid maps {key!r}, which is not a DVID number; write "
                                 "dvid={1: 'output', ...}")
        if name not in model.output_names:
            raise ParameterError(f"dvid maps {key} to {name!r}, which is not an output of "
                                 f"model {model.name!r}; its outputs are "
                                 f"{list(model.output_names)}")


@dataclass(frozen=True, eq=False)
class Prepared:
    """A population model resolved against its data: what every fitting method starts from."""

    model: object
    dataset: object
    prob: object
    obs: object
    spec: object
    fixed_values: dict
    data: dict
    solve: object
    dv_scale: dict
    exact: bool  # the exact superposition solution (no ODE solves that could fail)


def prepare(model, data, *, iiv=(), iiv_correlation=False, covariates=None, error=None,
            fixed=None, priors=None, estimate=None, solver=None, dvid=None) -> Prepared:
    """Read and check the data, resolve the options (`build_spec`) and build the data pytree
    and the solver; every mistake is reported here, before anything compiles."""
    model = _as_model(model)
    _check_dvid_map(model, dvid)
    default_output = default_output_for(model, error)
    dataset = read_nonmem(data, dvid_map=dvid, outputs=model.output_names,
                          default_output=default_output)
    prob = problem(model, dataset, solver=solver)
    dataset = prob.dataset  # doses in the compartments' units (a stated dose_unit converted)
    obs = gather(prob, default_output or model.output_names[0])
    observed = tuple(dict.fromkeys(obs.output_names))
    dv_scale = _dv_scale(obs)
    spec, fixed_values = build_spec(
        model, dataset, observed, iiv=iiv, iiv_correlation=iiv_correlation,
        covariates=covariates, error=error, fixed=fixed, priors=priors, estimate=estimate,
        dv_scale=dv_scale)
    floor = {name: 1e-6 * max(_median_abs(obs, name), 1e-12) for name in observed}
    data_tree = data_arrays(spec, prob, obs, prob.parameters(fixed_values), floor)
    solve = solver_for(prob, tuple(sorted(e.column for e in spec.estimated)), observed)
    return Prepared(model, dataset, prob, obs, spec, fixed_values, data_tree, solve, dv_scale,
                    exact=_superposition_applies(prob))


#: Above this many estimated columns, `solver_for` differentiates by the discrete adjoint.
#: Forward sensitivities cost about one extra tangent pass per column and the adjoint a fixed
#: multiple of the solve; the crossover measured on msc_ifna is recorded in RESULTS.md.
ADJOINT_ABOVE = 24
GRADIENTS = ("auto", "forward", "adjoint")


def solver_for(prob, columns: tuple[int, ...] = (), outputs: tuple[str, ...] | None = None,
               dense_tangents: bool = False, gradient: str = "auto"):
    """The exact superposition solver where it applies; else the event engine, differentiated
    with respect to the estimated parameter ``columns`` by forward-mode sensitivities
    (``gradient="forward"``) or by the discrete adjoint of the steps (``"adjoint"``);
    ``"auto"`` takes the adjoint above `ADJOINT_ABOVE` columns. Given the observed
    ``outputs`` (and data without steady-state records), the ODE solver integrates only the
    states they depend on, and the other outputs come back as NaN."""
    if gradient not in GRADIENTS:
        raise ParameterError(f"gradient={gradient!r} is not one of {GRADIENTS}")
    if _superposition_applies(prob):
        return superposition.batch_solver(prob.model,
                                          superposition.needs(prob.model, prob.events))
    if not columns:
        return prob.compiled
    ev = prob.events
    # A steady-state record solves for a periodic state of every compartment; frozen states
    # that receive doses have none, so restricting the integration needs data without SS.
    restrict = outputs and not (ev.has_periodic_ss or ev.has_constant_ss)
    active = active_states(prob.model, tuple(outputs)) if restrict else None
    layout = (ev.n_overlap, ev.has_periodic_ss, ev.has_constant_ss)
    if gradient == "adjoint" or (gradient == "auto" and len(columns) > ADJOINT_ABOVE
                                 and not dense_tangents):
        return adjoint_solver(prob.model, prob.solver, *layout, columns, active)
    return sensitivity_solver(prob.model, prob.solver, *layout, columns, active,
                              dense_tangents=dense_tangents)


def _superposition_applies(prob) -> bool:
    return prob.solver.method == "closed_form" and superposition.applicable(
        prob.model, prob.events) is None


def _sites(spec, centered=False):
    return set(sampled_sites(spec)) | ({random_effect_site(centered)} if spec.iiv else set())


def _population_draws(spec, draws: dict, data_tree) -> dict:
    """The sampler's draws (`sampled_sites`, and ``psi`` in the centered form) as the
    population's (`prior_sites` and ``z``)."""
    draws = {k: np.asarray(v) for k, v in
             jax.device_get(from_sampled(spec, dict(draws), data_tree)).items()}
    if "psi" not in draws:
        return draws
    psi = draws.pop("psi")
    c, d = psi.shape[:2]
    flat = {k: np.asarray(draws[k]).reshape(c * d, *np.shape(draws[k])[2:])
            for k in prior_sites(spec)}
    to_z = jax.jit(jax.vmap(lambda v, p: z_from_psi(spec, v, p, data_tree)))
    draws["z"] = np.asarray(to_z(flat, psi.reshape(c * d, *psi.shape[2:]))).reshape(psi.shape)
    return draws


def _init_sites(spec, start, z_start, data_tree):
    """The sampler's sites (`sampled_sites`, ``z``) at the population values ``start``."""
    n = data_tree["theta"].shape[0]
    values = to_sampled(spec, {s: jnp.asarray(start[s]) for s in prior_sites(spec)}, data_tree)
    if spec.iiv:
        values["z"] = jnp.asarray(z_start if z_start is not None
                                  else np.zeros((n, len(spec.iiv))))
    return values


def _jittered_init(spec, nmodel, data_tree, start, z_start, chains, key, centered=False):
    """Unconstrained starting points per chain: the start, plus N(0, 0.1) jitter (0.5 on z
    when it starts at zero), so chains are distinct but in the same mode. ``nmodel`` is the
    non-centered model; with ``centered`` the jittered z become each chain's ``psi``."""
    z0 = unconstrained(nmodel, data_tree, _init_sites(spec, start, z_start, data_tree))
    out = {}
    for name, value in sorted(z0.items()):
        key, sub = jax.random.split(key)
        scale = 0.5 if (name == "z" and z_start is None) else 0.1
        noise = scale * jax.random.normal(sub, (chains, *jnp.shape(value)))
        out[name] = jnp.asarray(value)[None] + noise
    if centered and spec.iiv:
        values = {s: jnp.asarray(start[s]) for s in prior_sites(spec)}
        out["psi"] = jax.vmap(lambda z: psi_from_z(spec, values, z, data_tree))(out.pop("z"))
    return out


def _dv_scale(obs):
    scale = {}
    for name in dict.fromkeys(obs.output_names):
        dv = obs.dv[obs.of(name)]
        dv = dv[np.isfinite(dv) & ~obs.censored[obs.of(name)]]
        s = float(np.std(dv)) if dv.size > 1 else 1.0
        scale[name] = s if s > 0 else 1.0
    return scale


def _median_abs(obs, name):
    dv = obs.dv[obs.of(name)]
    dv = dv[np.isfinite(dv)]
    return float(np.median(np.abs(dv))) if dv.size else 1.0


def _plain_covariates(covariates):
    if not covariates:
        return {}
    return {param: [list(e) for e in covariate_entries(entries)]
            for param, entries in covariates.items()}


def _plain_dvid(dvid):
    return None if dvid is None else {str(k): v for k, v in dvid.items()}

