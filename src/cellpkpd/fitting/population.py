"""The population model as pure functions of parameter values and data arrays, and the
NumPyro model built from them.

Nothing here closes over data: ``data`` is a pytree of arrays (events, fixed parameter values,
covariates, observations), so the same log-density can later be vmapped over datasets.

Individual parameters:

    h(theta_i) = h(theta_TV) + sum_k beta_k g_k(cov_i) + eta_i,   eta_i = diag(omega) L z_i,

with h = log for positive parameters, scaled logit for bounded ones and the identity
otherwise. The sampler sees either z_i ~ Normal(0, I) (non-centered, the default) or the
individual values psi_i = h(theta_i) ~ Normal(mu_i, diag(omega) L) themselves (centered).
Why both: the non-centered form suits random effects the data say little about; when each
subject's data pin its own value (rich sampling), z_i is a thin ridge along
(eta_hat_i - mu_i) / omega that moves with every typical value and omega, NUTS needs many
small steps, and the centered form is the better geometry (Papaspiliopoulos, Roberts &
Skold, Stat Sci 2007; Betancourt & Girolami 2015). Either way the posterior keeps ``z``.

A combined residual error SD(f) = sqrt(a^2 + b^2 f^2) is sampled as the total SD at the
output's median observation f_ref, s = sqrt(a^2 + b^2 f_ref^2) (log), and the additive
share of its variance, a^2 / s^2 (logit), with the priors of a and b carried over exactly.
Why: with a few observations over a narrow range of f the data fix s but hardly the split,
and in (log a, log b) that is an L-shaped ridge whose curvature changes by orders of
magnitude along it (msc_ifna SLD: a saddle, and 10x the curvature of any other direction
after mass-matrix adaptation); in (log s, logit share) it is a straight, flat direction.

Covariate forms g: power log(cov/ref), exponential (cov - ref),
categorical 1[cov == level]; the linear form multiplies the parameter by 1 + beta (cov - ref)
(it adds log(1 + beta (cov - ref)) on the log scale, and beta (cov - ref) on other scales).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from .likelihood import KIND_CODES, pointwise_loglik
from .observations import Observations
from .spec import PopulationSpec, baseline_covariate

_TINY = 1e-300


def data_arrays(spec: PopulationSpec, prob, obs: Observations, fixed_theta: np.ndarray,
                dv_floor: dict) -> dict:
    """The data pytree: event arrays, the fixed parameter matrix, covariates, observations."""
    cov = np.stack([baseline_covariate(prob.dataset, e.covariate) for e in spec.effects],
                   axis=1) if spec.effects else np.zeros((prob.events.n_subjects, 0))
    err_of_output = {e.index: k for k, e in enumerate(spec.errors)}
    err = np.array([err_of_output[o] for o in obs.output], dtype=int)
    kind = np.array([KIND_CODES[spec.errors[e].kind] for e in err], dtype=int)
    floor = np.array([dv_floor[spec.errors[e].output] for e in err])
    ref = np.ones(len(spec.errors))
    for k in range(len(spec.errors)):
        dv = np.abs(obs.dv[(err == k) & ~obs.censored])
        dv = dv[np.isfinite(dv) & (dv > 0)]
        ref[k] = float(np.median(dv)) if dv.size else 1.0
    return {
        "events": {k: jnp.asarray(v) for k, v in prob.events.arrays.items()},
        "theta": jnp.asarray(fixed_theta),
        "cov": jnp.asarray(cov),
        "obs_subject": jnp.asarray(obs.subject),
        "obs_record": jnp.asarray(obs.record),
        "obs_output": jnp.asarray(obs.output),
        "obs_error": jnp.asarray(err),
        "obs_kind": jnp.asarray(kind),
        "obs_dv": jnp.asarray(obs.dv),
        "obs_lloq": jnp.asarray(obs.lloq),
        "obs_censored": jnp.asarray(obs.censored),
        "obs_floor": jnp.asarray(floor),
        "error_reference": jnp.asarray(ref),
    }


def _to_scale(e, value):
    if e.scale == "log":
        return jnp.log(value)
    if e.scale == "logit":
        frac = (value - e.lower) / (e.upper - e.lower)
        return jnp.log(frac) - jnp.log1p(-frac)
    return value


def _from_scale(e, h):
    if e.scale == "log":
        return jnp.exp(h)
    if e.scale == "logit":
        return e.lower + (e.upper - e.lower) * jax.nn.sigmoid(h)
    return h


def eta_from_z(spec: PopulationSpec, values: dict, z):
    """Random effects (S, k) from the standard normal z (S, k)."""
    if not spec.iiv:
        return jnp.zeros((z.shape[0], 0), z.dtype)
    omega = jnp.stack([values[f"omega_{p}"] for p in spec.iiv])
    if spec.iiv_correlation:
        z = z @ values["L_omega"].T
    return z * omega


def z_from_eta(spec: PopulationSpec, values: dict, eta):
    """The inverse of `eta_from_z`."""
    if not spec.iiv:
        return eta
    omega = jnp.stack([values[f"omega_{p}"] for p in spec.iiv])
    z = eta / omega
    if spec.iiv_correlation:
        z = jax.scipy.linalg.solve_triangular(values["L_omega"], z.T, lower=True).T
    return z


def typical_scaled(spec: PopulationSpec, values: dict, data):
    """Per subject, every estimated parameter on its IIV scale before the random effect
    (typical value and covariate effects): (S, n_estimated), and the validity flag of
    `individual_theta`."""
    n = data["theta"].shape[0]
    valid = jnp.ones(n, bool)
    columns = []
    for e in spec.estimated:
        h = jnp.broadcast_to(_to_scale(e, values[e.name]), (n,))
        for k, c in enumerate(spec.effects):
            if c.param != e.name:
                continue
            beta, x = values[c.name], data["cov"][:, k]
            if c.form == "power":
                h = h + beta * jnp.log(x / c.reference)
            elif c.form == "exponential":
                h = h + beta * (x - c.reference)
            elif c.form == "categorical":
                h = h + beta * (x == c.level)
            elif e.scale == "log":
                factor = 1.0 + beta * (x - c.reference)
                valid = valid & (factor > 0)
                h = h + jnp.log(jnp.maximum(factor, _TINY))
            else:
                h = h + beta * (x - c.reference)
        columns.append(h)
    if not columns:
        return jnp.zeros((n, 0)), valid
    return jnp.stack(columns, axis=1), valid


def iiv_means(spec: PopulationSpec, values: dict, data):
    """The centered form's means mu_i (S, k): `typical_scaled` of the IIV parameters."""
    h, _ = typical_scaled(spec, values, data)
    return h[:, np.asarray(spec.iiv_positions, dtype=int)]


def individual_theta(spec: PopulationSpec, values: dict, eta, data):
    """The (S, P) parameter matrix, and a per-subject validity flag (a linear covariate effect
    must keep the parameter's factor positive)."""
    theta = data["theta"]
    h, valid = typical_scaled(spec, values, data)
    iiv_pos = {p: j for j, p in enumerate(spec.iiv)}
    for i, e in enumerate(spec.estimated):
        hi = h[:, i]
        if e.name in iiv_pos:
            hi = hi + eta[:, iiv_pos[e.name]]
        theta = theta.at[:, e.column].set(_from_scale(e, hi))
    return theta, valid


def observation_sigmas(spec: PopulationSpec, values: dict, data):
    """Per-observation additive SD and proportional (or log-scale) SD."""
    add, prop = [], []
    for e in spec.errors:
        if e.kind == "additive":
            add.append(values[e.sigma_names[0]])
            prop.append(0.0)
        elif e.kind == "combined":
            add.append(values[e.sigma_names[0]])
            prop.append(values[e.sigma_names[1]])
        else:
            add.append(0.0)
            prop.append(values[e.sigma_names[0]])
    add = jnp.stack([jnp.asarray(a, jnp.float64) for a in add])
    prop = jnp.stack([jnp.asarray(p, jnp.float64) for p in prop])
    return add[data["obs_error"]], prop[data["obs_error"]]


def predict_observations(theta, data, solve):
    """Model predictions at every observation and the per-subject solver status."""
    outputs, _, status = solve(theta, data["events"])
    f = outputs[data["obs_subject"], data["obs_record"], data["obs_output"]]
    return f, status


def subject_loglik(spec: PopulationSpec, values: dict, eta, data, solve):
    """Per-observation log-likelihood (N,), per-subject sums (S,), per-subject failure (S,)
    and the predictions (N,). Failed subjects' predictions are replaced by a harmless value
    so that no NaN reaches the gradient; callers turn ``failed`` into -inf."""
    theta, valid = individual_theta(spec, values, eta, data)
    f, status = predict_observations(theta, data, solve)
    failed = (status != 0) | ~valid
    subj = data["obs_subject"]
    bad_f = ~jnp.isfinite(f) | failed[subj]
    failed = failed | (jax.ops.segment_sum(bad_f.astype(jnp.int32), subj,
                                           num_segments=theta.shape[0]) > 0)
    f_safe = jnp.where(bad_f, 1.0, f)
    add, prop = observation_sigmas(spec, values, data)
    ll = pointwise_loglik(f_safe, data["obs_kind"], add, prop, data["obs_dv"],
                          data["obs_lloq"], data["obs_censored"], data["obs_floor"])
    ll = jnp.where(failed[subj], 0.0, ll)
    per_subject = jax.ops.segment_sum(ll, subj, num_segments=theta.shape[0])
    return ll, per_subject, failed, f


def log_prior(spec: PopulationSpec, values: dict):
    return sum(jnp.sum(spec.priors[name].log_prob(values[name])) for name in prior_sites(spec))


def prior_sites(spec: PopulationSpec) -> tuple[str, ...]:
    sites = spec.estimated_names + tuple(c.name for c in spec.effects)
    sites += tuple(f"omega_{p}" for p in spec.iiv)
    if spec.iiv_correlation:
        sites += ("L_omega",)
    return sites + spec.sigma_names


def combined_sites(e) -> tuple[str, str]:
    """The sampled sites of a combined error model (see the module docstring)."""
    return (f"log_sd_{e.output}", f"logit_additive_share_{e.output}")


def _combined_sigma_names(spec: PopulationSpec) -> set[str]:
    return {name for e in spec.errors if e.kind == "combined" for name in e.sigma_names}


def sampled_sites(spec: PopulationSpec) -> tuple[str, ...]:
    """The population sites the sampler sees: `prior_sites` with each combined error's pair
    of SDs replaced by its `combined_sites`."""
    skip = _combined_sigma_names(spec)
    return (tuple(name for name in prior_sites(spec) if name not in skip)
            + tuple(site for e in spec.errors if e.kind == "combined"
                    for site in combined_sites(e)))


def combined_from_sampled(u, v, ref):
    """(a, b) from the log total SD ``u`` at ``ref`` and the logit additive share ``v``."""
    a = jnp.exp(u + 0.5 * jax.nn.log_sigmoid(v))
    b = jnp.exp(u + 0.5 * jax.nn.log_sigmoid(-v)) / ref
    return a, b


def sampled_from_combined(a, b, ref):
    return 0.5 * jnp.log(a**2 + (b * ref) ** 2), 2.0 * (jnp.log(a) - jnp.log(b * ref))


def to_sampled(spec: PopulationSpec, values: dict, data) -> dict:
    """Population values (by `prior_sites`) as the sampler's sites (`sampled_sites`)."""
    out = dict(values)
    for k, e in enumerate(spec.errors):
        if e.kind == "combined":
            add, prop = e.sigma_names
            u, v = sampled_from_combined(out.pop(add), out.pop(prop),
                                         data["error_reference"][k])
            out.update(zip(combined_sites(e), (u, v), strict=True))
    return out


def from_sampled(spec: PopulationSpec, values: dict, data) -> dict:
    """The inverse of `to_sampled`."""
    out = dict(values)
    for k, e in enumerate(spec.errors):
        if e.kind == "combined":
            u, v = (out.pop(name) for name in combined_sites(e))
            a, b = combined_from_sampled(u, v, data["error_reference"][k])
            out.update(zip(e.sigma_names, (a, b), strict=True))
    return out


def _sample_population(spec: PopulationSpec, data) -> dict:
    skip = _combined_sigma_names(spec)
    values = {name: numpyro.sample(name, spec.priors[name])
              for name in prior_sites(spec) if name not in skip}
    flat = dist.ImproperUniform(dist.constraints.real, (), ())
    for k, e in enumerate(spec.errors):
        if e.kind != "combined":
            continue
        u, v = (numpyro.sample(name, flat) for name in combined_sites(e))
        ref = data["error_reference"][k]
        a, b = combined_from_sampled(u, v, ref)
        add, prop = e.sigma_names
        # The priors of a and b, times |d(a, b) / d(u, v)| = a b / 2.
        numpyro.factor(f"prior_{add}_{prop}",
                       spec.priors[add].log_prob(a) + spec.priors[prop].log_prob(b)
                       + jnp.log(a) + jnp.log(b) - jnp.log(2.0))
        values[add], values[prop] = a, b
    return values


def individual_distribution(spec: PopulationSpec, values: dict, mean):
    """The centered form's distribution of psi_i (batch S, event k) around ``mean``
    (`iiv_means`)."""
    omega = jnp.stack([values[f"omega_{p}"] for p in spec.iiv])
    if spec.iiv_correlation:
        return dist.MultivariateNormal(mean, scale_tril=omega[:, None] * values["L_omega"])
    return dist.Normal(mean, omega).to_event(1)


def psi_from_z(spec: PopulationSpec, values: dict, z, data):
    """The centered form's site from the non-centered one."""
    return iiv_means(spec, values, data) + eta_from_z(spec, values, z)


def z_from_psi(spec: PopulationSpec, values: dict, psi, data):
    return z_from_eta(spec, values, psi - iiv_means(spec, values, data))


def random_effect_site(centered: bool) -> str:
    return "psi" if centered else "z"


def numpyro_model(spec: PopulationSpec, solve, count_failures=None, centered: bool = False):
    """The NumPyro model ``model(data)``. ``count_failures``, if given, is called on the host
    with the number of failed subjects at every evaluation (for the sampler statistics).
    ``centered``: sample the individual values ``psi`` instead of ``z`` (see the module
    docstring)."""

    def model(data):
        values = _sample_population(spec, data)
        n = data["theta"].shape[0]
        k = len(spec.iiv)
        if k and centered:
            mean = iiv_means(spec, values, data)
            with numpyro.plate("id", n):
                psi = numpyro.sample("psi", individual_distribution(spec, values, mean))
            eta = psi - mean
        elif k:
            with numpyro.plate("id", n):
                z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([k]).to_event(1))
            eta = eta_from_z(spec, values, z)
        else:
            eta = jnp.zeros((n, 0))
        _, per_subject, failed, _ = subject_loglik(spec, values, eta, data, solve)
        n_failed = jnp.sum(failed)
        if count_failures is not None:
            jax.debug.callback(count_failures, n_failed)
        numpyro.factor("loglik", jnp.where(n_failed > 0, -jnp.inf, jnp.sum(per_subject)))

    return model
