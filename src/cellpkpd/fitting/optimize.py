"""Point estimates: a pooled fit (random effects at zero), and the MAP of the population
parameters with the random effects integrated out by the Laplace approximation.

The Laplace objective is NONMEM's LAPLACIAN (and close to nlme's and FOCE's): for each subject

    -log p(y_i | phi) ~= U_i(z_i*) + 1/2 log det H_i - k/2 log(2 pi),

where U_i is the subject's negative joint log-density in the non-centered random effects z_i,
z_i* its mode, and H_i its Hessian there. The MAP maximises the log-prior plus the sum of
these over the population parameters phi, as a density on the unconstrained scale (log
for positive parameters and SDs, logit for fractions; Stan's ``jacobian=True``). With weak
priors this is close to the maximum-likelihood estimate of nlme and NONMEM, which
parameterise on the same log scale; it is also what breaks the tie between the two
flip-flop modes in favour of the one nearer the prior.

The inner modes are found by damped Newton iterations that are not differentiated; one more
Newton step from the mode is, and its derivative is the exact implicit derivative of the
mode, so the outer gradient is exact.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax.flatten_util import ravel_pytree
from numpyro.distributions.transforms import biject_to

from .likelihood import pointwise_loglik
from .population import (
    eta_from_z,
    log_prior,
    observation_sigmas,
    prior_sites,
    subject_loglik,
)


class Packing:
    """Population sites <-> one flat unconstrained vector."""

    def __init__(self, spec, sites, init_values):
        self.spec = spec
        self.sites = tuple(sites)
        self.transforms = {s: biject_to(spec.priors[s].support) for s in self.sites}
        u = {s: self.transforms[s].inv(jnp.asarray(init_values[s], jnp.float64))
             for s in self.sites}
        self.flat0, self._unravel = ravel_pytree(u)

    def unconstrained(self, flat):
        return self._unravel(flat)

    def values(self, flat, fixed_values):
        u = self._unravel(flat)
        out = dict(fixed_values)
        out.update({s: self.transforms[s](u[s]) for s in self.sites})
        return out

    def log_jacobian(self, flat):
        """log |d values / d flat|: the MAP is the mode on the unconstrained scale (log for
        positive parameters, as nlme and NONMEM users parameterise them)."""
        u = self._unravel(flat)
        total = 0.0
        for s in self.sites:
            t = self.transforms[s]
            total = total + jnp.sum(t.log_abs_det_jacobian(u[s], t(u[s])))
        return total


def initial_values(spec, data, dv_scale, init=None) -> dict:
    """Starting values: model defaults, no covariate effects, omega 0.3, residual SDs at 30%
    (additive: 30% of the output's observed SD), overridden by ``init``."""
    values = {e.name: e.default for e in spec.estimated}
    values.update({c.name: 0.0 for c in spec.effects})
    values.update({f"omega_{p}": 0.3 for p in spec.iiv})
    if spec.iiv_correlation:
        values["L_omega"] = np.eye(len(spec.iiv))
    for e in spec.errors:
        for s in e.sigma_names:
            additive = s.startswith("sigma_add_") or e.kind == "additive"
            values[s] = 0.3 * float(dv_scale.get(e.output, 1.0)) if additive else 0.3
    values.update(init or {})
    return values


def _minimize(fun, x0, what, max_iter, quiet=False):
    result = scipy.optimize.minimize(fun, np.asarray(x0), jac=True, method="L-BFGS-B",
                                     options={"maxiter": max_iter})
    if not np.isfinite(result.fun):
        raise RuntimeError(f"the {what} objective is not finite at its end point; check the "
                           "parameter defaults and the data, or pass init={...}")
    if not result.success and not quiet:
        warnings.warn(f"the {what} optimisation stopped before converging ({result.message}); "
                      "the estimates may be inaccurate", RuntimeWarning, stacklevel=3)
    return result


def pooled_fit(spec, data, solve, values0, max_iter=500, n_starts=8, seed=0) -> dict:
    """Typical values, covariate effects and residual SDs with every random effect at zero.

    Multi-start: from ``values0`` and from ``n_starts - 1`` points whose typical values are
    drawn around it (a factor e^N(0,1) for positive parameters), keeping the best posterior
    density. One start is not enough: a pooled one-compartment oral model has two equally
    good modes (ka and ke swapped), and the prior only breaks the tie if the search can
    reach both.
    """
    sites = [s for s in prior_sites(spec) if not s.startswith("omega_") and s != "L_omega"]
    pack = Packing(spec, sites, values0)
    n = data["theta"].shape[0]
    z0 = jnp.zeros((n, len(spec.iiv)))

    def objective(flat):
        values = pack.values(flat, values0)
        _, per_subject, failed, _ = subject_loglik(spec, values, eta_from_z(spec, values, z0),
                                                   data, solve)
        value = -(log_prior(spec, values) + pack.log_jacobian(flat) + jnp.sum(per_subject))
        return jnp.where(jnp.any(failed), jnp.inf, value)

    grad = jax.jit(jax.value_and_grad(objective))

    def fun(x):
        v, g = grad(jnp.asarray(x))
        if not np.isfinite(v):
            return 1e300, np.zeros_like(x)
        return float(v), np.asarray(g)

    rng = np.random.default_rng(seed)
    best = None
    for k in range(max(1, n_starts)):
        start = dict(values0)
        if k:
            for e in spec.estimated:
                jitter = rng.normal()
                if e.scale == "log":
                    start[e.name] = e.default * math.exp(jitter)
                elif e.scale == "logit":
                    frac = (e.default - e.lower) / (e.upper - e.lower)
                    frac = min(max(frac, 1e-6), 1 - 1e-6)
                    h = math.log(frac / (1 - frac)) + jitter
                    start[e.name] = e.lower + (e.upper - e.lower) / (1 + math.exp(-h))
                else:
                    start[e.name] = e.default + jitter * max(abs(e.default), 1.0)
        x0 = Packing(spec, sites, start).flat0
        try:
            result = _minimize(fun, x0, "pooled", max_iter, quiet=k > 0)
        except RuntimeError:
            continue
        if best is None or result.fun < best.fun:
            best = result
    if best is None:
        raise RuntimeError("the pooled fit found no start with a finite objective; check the "
                           "parameter defaults and the data, or pass init={...}")
    return {k: np.asarray(v) for k, v in pack.values(jnp.asarray(best.x), values0).items()}


def _subject_parts(spec, data, solve):
    """Per subject: U_i(z), its gradient in z_i, and the Gauss-Newton Hessian
    I + sum_n w_n g_n g_n^T, where g_n = d f_n / d z_i and w_n is the curvature of
    -log p(y_n | f_n) in f_n (floored at 0), the FOCE-I form of the Laplace Hessian: first
    derivatives of the predictions only, so the outer gradient stays cheap."""
    n_sub = data["theta"].shape[0]
    subj = data["obs_subject"]

    def predictions(values, z):
        eta = eta_from_z(spec, values, z)
        _, per_subject, failed, f = subject_loglik(spec, values, eta, data, solve)
        return f, per_subject, failed

    def u(values, z):
        _, per_subject, failed = predictions(values, z)
        return jnp.where(failed, jnp.inf, -per_subject + 0.5 * jnp.sum(z**2, axis=1))

    def curvature(values, f):
        add, prop = observation_sigmas(spec, values, data)

        def neg_ll(fn, a, b, kind, dv, lloq, cens, floor):
            return -pointwise_loglik(fn, kind, a, b, dv, lloq, cens, floor)

        d2 = jax.vmap(jax.grad(jax.grad(neg_ll)))(
            f, add, prop, data["obs_kind"], data["obs_dv"], data["obs_lloq"],
            data["obs_censored"], data["obs_floor"])
        return jnp.maximum(jnp.where(jnp.isfinite(d2), d2, 0.0), 0.0)

    def parts(values, z):
        k = z.shape[1]

        def total(zz):
            per = u(values, zz)
            return jnp.sum(jnp.where(jnp.isfinite(per), per, 0.0))

        value = u(values, z)
        g = jax.grad(total)(z)
        f_of_z = lambda zz: predictions(values, zz)[0]  # noqa: E731
        f = f_of_z(z)
        jac = jnp.stack([jax.jvp(f_of_z, (z,), (jnp.zeros_like(z).at[:, j].set(1.0),))[1]
                         for j in range(k)], axis=1)  # (N, k): d f_n / d z_{subject(n)}
        jac = jnp.where(jnp.isfinite(jac), jac, 0.0)
        w = curvature(values, jnp.where(jnp.isfinite(f), f, 1.0))
        outer = w[:, None, None] * jac[:, :, None] * jac[:, None, :]
        h = jax.ops.segment_sum(outer, subj, num_segments=n_sub) + jnp.eye(k)
        return value, g, h

    return u, parts


def inner_modes(u, parts, values, z0, max_iter=50, tol=1e-8):
    """Damped Gauss-Newton per subject: a subject's step shrinks until U_i decreases; stops
    when every subject's full Newton step is below ``tol``."""

    def body(carry):
        z, alpha, it, _ = carry
        current, g, h = parts(values, z)
        step = jnp.linalg.solve(h, g[..., None])[..., 0]
        trial = z - alpha[:, None] * step
        better = u(values, trial) <= current
        z = jnp.where(better[:, None], trial, z)
        alpha = jnp.where(better, jnp.minimum(1.0, 2 * alpha), alpha / 4)
        return z, alpha, it + 1, jnp.max(jnp.abs(step))

    def more(carry):
        _, alpha, it, size = carry
        return (it < max_iter) & (size > tol) & jnp.any(alpha > 1e-10)

    z, *_ = jax.lax.while_loop(more, body, (z0, jnp.ones(z0.shape[0]), 0, jnp.inf))
    return z


def laplace_fit(spec, data, solve, values0, max_iter=500, pooled_starts=8):
    """MAP of the population parameters under the Laplace (FOCE-I) approximation. Returns the
    values, the random-effect modes z (S, k), and (packing, unconstrained estimate, its
    covariance (inverse Hessian, by central differences of the exact gradient), objective).
    Without random effects this is the pooled fit, with ``pooled_starts`` starts (1 when
    ``values0`` is already a pooled fit's result)."""
    k = len(spec.iiv)
    if k == 0:
        values = pooled_fit(spec, data, solve, values0, max_iter, n_starts=pooled_starts)
        return values, np.zeros((data["theta"].shape[0], 0)), None
    sites = prior_sites(spec)
    pack = Packing(spec, sites, values0)
    u, parts = _subject_parts(spec, data, solve)
    log_2pi = math.log(2 * math.pi)

    def objective(flat, z_start):
        values = pack.values(flat, values0)
        fixed_values = jax.lax.stop_gradient(values)
        z_hat = jax.lax.stop_gradient(inner_modes(u, parts, fixed_values, z_start))
        _, g, h = parts(values, z_hat)
        z1 = z_hat - jnp.linalg.solve(jax.lax.stop_gradient(h), g[..., None])[..., 0]
        per, _, h1 = parts(values, z1)
        sign, logdet = jnp.linalg.slogdet(h1)
        per = per + 0.5 * logdet - 0.5 * k * log_2pi
        bad = ~jnp.isfinite(per) | (sign <= 0)
        value = (jnp.sum(jnp.where(bad, 0.0, per)) - log_prior(spec, values)
                 - pack.log_jacobian(flat))
        return jnp.where(jnp.any(bad), jnp.inf, value), z_hat

    value_grad = jax.jit(jax.value_and_grad(objective, has_aux=True))
    z_state = {"z": jnp.zeros((data["theta"].shape[0], k))}

    def fun(x):
        (v, z_hat), g = value_grad(jnp.asarray(x), z_state["z"])
        if not np.isfinite(v):
            return 1e300, np.zeros_like(x)
        z_state["z"] = z_hat
        return float(v), np.asarray(g)

    result = _minimize(fun, pack.flat0, "Laplace MAP", max_iter)
    x = np.asarray(result.x)
    fun(x)
    cov = _inverse_hessian(lambda y: fun(y)[1], x)
    fun(x)
    values = {s: np.asarray(v) for s, v in pack.values(jnp.asarray(x), values0).items()}
    return values, np.asarray(z_state["z"]), (pack, x, cov, float(result.fun))


def _inverse_hessian(grad, x, rel_step=1e-4):
    n = x.size
    h = np.empty((n, n))
    for i in range(n):
        step = rel_step * max(1.0, abs(x[i]))
        e = np.zeros(n)
        e[i] = step
        h[:, i] = (grad(x + e) - grad(x - e)) / (2 * step)
    h = 0.5 * (h + h.T)
    try:
        return np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return np.full((n, n), np.nan)
