"""A fast exact path for linear models: the solution at every record as a sum of per-dose
responses, with no loop over events.

For ``dy/dt = A y + b`` with A and b constant per subject, the state at time t is

    y(t) = e^{A(t-t0)} y0 + Phi(t-t0) b + sum over doses of the dose's response,

where a bolus of amount a into compartment k contributes ``e^{A(t-s)} a e_k`` and an infusion
of rate R from s to s+D contributes ``e^{A(t-s-D)^+} Phi(min(t-s, D)) R e_k``, with
``Phi(tau) = int_0^tau e^{As} ds``. Every (record, dose) pair is independent, so the whole
subject is a handful of batched small matrix exponentials: an order of magnitude cheaper per
gradient than walking the event table, which is what a sampler pays for thousands of times.

It applies when the engine's general machinery is not needed: no steady-state records, no
resets, covariates constant within each subject, no switches. `applicable` says why not
otherwise, and callers fall back to the engine (same signature, same results).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .engine import BAD_MODELED_INFUSION, NONFINITE_STATE, _dose_quantities

_MAX_SQUARINGS = 30  # scaling by 2**-30 covers ||A t|| up to ~1e9
_TAYLOR_DEGREE = 16  # after scaling ||X||_1 <= 1: truncation error < 1/17! ~ 3e-15


def expm_small(m):
    """Matrix exponential of a batch of small matrices ``(..., k, k)``.

    1x1 and 2x2 matrices (one-compartment models, with or without a depot) use closed forms;
    larger ones scaling and squaring with a fixed-degree Taylor polynomial, straight-line code
    with a fixed trip count, so it vectorises and reverse-differentiates without while loops
    (``jax.scipy.linalg.expm`` needs a dynamic squaring count).
    """
    k = m.shape[-1]
    if k == 1:
        return jnp.exp(m)
    if k == 2:
        return _expm_2x2(m)
    return _expm_taylor(m)


_SERIES_BELOW = 1e-3  # |Delta| under which the series of cosh(sqrt D), sinh(sqrt D)/sqrt D


def _expm_2x2(m):
    """``e^M = e^mu [C(D) I + S(D) (M - mu I)]`` with ``mu = tr M / 2``,
    ``D = ((a - d)/2)^2 + bc``, ``C(D) = cosh(sqrt D)`` and ``S(D) = sinh(sqrt D)/sqrt D``
    (cos and sin for D < 0).

    C and S are entire in D, so the form has no singularity at repeated eigenvalues (ka = ke,
    where a sampler crosses the flip-flop line); near D = 0 a series is used. For D > 0 the
    exponentials are taken of the eigenvalues themselves, so that large stiff entries neither
    overflow cosh nor cancel.
    """
    a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
    mu = 0.5 * (a + d)
    h = 0.5 * (a - d)
    delta = h * h + b * c
    small = jnp.abs(delta) < _SERIES_BELOW
    real = delta >= _SERIES_BELOW
    # Double-where: the branch not taken must see a harmless argument, or its NaN gradient
    # would leak through the select.
    r = jnp.sqrt(jnp.where(real, delta, 1.0))
    w = jnp.sqrt(jnp.where(delta <= -_SERIES_BELOW, -delta, 1.0))
    top = jnp.exp(mu + r)
    decay = -jnp.expm1(-2.0 * r)
    p_real = 0.5 * top * (2.0 - decay)
    q_real = top * decay / (2.0 * r)
    e_mu = jnp.exp(mu)
    p_osc = e_mu * jnp.cos(w)
    q_osc = e_mu * jnp.sin(w) / w
    ds = jnp.where(small, delta, 0.0)
    p_ser = e_mu * (1.0 + ds / 2.0 + ds**2 / 24.0 + ds**3 / 720.0 + ds**4 / 40320.0)
    q_ser = e_mu * (1.0 + ds / 6.0 + ds**2 / 120.0 + ds**3 / 5040.0 + ds**4 / 362880.0)
    p = jnp.where(small, p_ser, jnp.where(real, p_real, p_osc))
    q = jnp.where(small, q_ser, jnp.where(real, q_real, q_osc))
    row0 = jnp.stack([p + q * h, q * b], axis=-1)
    row1 = jnp.stack([q * c, p - q * h], axis=-1)
    return jnp.stack([row0, row1], axis=-2)


def _expm_taylor(m):
    k = m.shape[-1]
    eye = jnp.eye(k, dtype=m.dtype)
    norm = jnp.max(jnp.sum(jnp.abs(m), axis=-2), axis=-1)
    s = jnp.clip(jnp.ceil(jnp.log2(jnp.maximum(norm, 1e-300))), 0, _MAX_SQUARINGS)
    s = jax.lax.stop_gradient(s)
    x = m * (2.0 ** -s)[..., None, None]
    result = eye + x / _TAYLOR_DEGREE
    for j in range(_TAYLOR_DEGREE - 1, 0, -1):
        result = eye + (x @ result) / j

    def square(i, r):
        return jnp.where((i < s)[..., None, None], r @ r, r)

    return jax.lax.fori_loop(0, _MAX_SQUARINGS, square, result)


def applicable(model, events) -> str | None:
    """``None`` when `batch_solver` applies to this model and event table, else the reason."""
    a = events.arrays
    if not model.linear:
        return "the model is not declared linear"
    if model.switches:
        return "the model has dose-driven switches"
    if a["ss_time"].shape[1]:
        return "the data have steady-state (SS) records"
    if np.any(a["rec_reset"] & a["rec_valid"]):
        return "the data have reset records (EVID 3/4)"
    cov0 = a["cov0"][:, None, :]
    rec_same = np.all((a["rec_cov_own"] == cov0) | ~a["rec_valid"][..., None])
    dose_same = np.all((a["dose_cov"] == cov0) | ~a["dose_valid"][..., None])
    if not (rec_same and dose_same):
        return "covariates change within a subject"
    return None


def solve_subject(model, needs, p, ev):
    """Outputs and states at every record of one subject, and a status bit mask (the engine's
    `solve_subject` contract). ``needs`` (`Needs`) says which terms can be non-zero."""
    n = model.n_states
    dtype = p.dtype
    c = ev["cov0"]
    c_full = jnp.concatenate([c, jnp.zeros(len(model.switches), dtype)])
    a, b = model.linear_system(p, c_full)
    y0 = model.initial_state(p, c_full)
    t_rec = ev["rec_time"]
    t0 = jnp.min(jnp.where(ev["rec_valid"], t_rec, jnp.inf))

    _, lag, _, _, amt_f, is_inf, r_inf, dur, bad = _dose_quantities(
        model, p, ev["dose_cov"], ev["dose_cmt"], ev["dose_amt"], ev["dose_rate"],
        ev["dose_dur"])
    status = jnp.where(jnp.any(ev["dose_valid"] & bad), BAD_MODELED_INFUSION, 0)
    start = ev["dose_time"] + lag
    dur = jnp.where(is_inf, dur, 0.0)

    # (R, D) pairs. A dose at a record's own time counts if its ordering key comes first.
    since = t_rec[:, None] - start[None, :]
    counts = (since > 0) | ((since == 0) & (ev["dose_key"][None, :] < ev["rec_key"][:, None]))
    counts = counts & ev["dose_valid"][None, :]
    since = jnp.where(counts, since, 0.0)
    during = jnp.minimum(since, dur[None, :])
    after = jnp.maximum(since - dur[None, :], 0.0)
    onehot = (jnp.arange(n)[None, :] == ev["dose_cmt"][:, None]).astype(dtype)  # (D, n)
    n_rec, n_dose = since.shape

    # Each pair's decay e^{A after}; the baseline's augmented exponential from the first
    # record (only when y0 or b can be non-zero); each pair's infused amount
    # Phi(during) R e_k (only when the data have infusions). Matrices of one size go through
    # one `expm_small` call. Its Taylor path (3x3 and larger) costs per call rather than per
    # matrix, so there the decays are embedded in the augmented size to share the call.
    augmenting = needs.baseline or needs.infusions
    if n >= 3 and augmenting:
        decay_m = _augmented(a, jnp.zeros((n_rec, n_dose, n), dtype), after)
    else:
        decay_m = a * after[..., None, None]
    blocks = {"decay": decay_m}
    if needs.baseline:
        blocks["base"] = _augmented(a, jnp.broadcast_to(b, (n_rec, n)), jnp.maximum(
            t_rec - t0, 0.0))
    if needs.infusions:
        blocks["infused"] = _augmented(
            a, jnp.broadcast_to((r_inf[:, None] * onehot)[None], (n_rec, n_dose, n)), during)
    e = _expm_grouped(blocks)

    decay = e["decay"][..., :n, :n]
    y = jnp.zeros((n_rec, n), dtype)
    if needs.baseline:
        base = e["base"]
        y = base[:, :n, :n] @ y0 + base[:, :n, n]
    given = jnp.broadcast_to((amt_f[:, None] * onehot)[None], (n_rec, n_dose, n))
    if needs.infusions:
        given = jnp.where(is_inf[None, :, None], e["infused"][..., :n, n], given)
    y = y + jnp.einsum("rdij,rdj->ri", decay, jnp.where(counts[..., None], given, 0.0))

    out = jax.vmap(lambda t, yy: model.output_values(t, yy, p, c_full))(t_rec, y)
    finite = jnp.all(jnp.isfinite(y) | ~ev["rec_valid"][:, None])
    status = status | jnp.where(finite, 0, NONFINITE_STATE)
    return out, y, jnp.int32(status)


def _expm_grouped(blocks: dict) -> dict:
    """`expm_small` of every block, with blocks of the same matrix size in one call."""
    by_size: dict[int, list] = {}
    for name, m in blocks.items():
        by_size.setdefault(m.shape[-1], []).append(name)
    out = {}
    for k, names in by_size.items():
        flat = [blocks[nm].reshape(-1, k, k) for nm in names]
        e = expm_small(jnp.concatenate(flat))
        offset = 0
        for nm, f in zip(names, flat, strict=True):
            out[nm] = e[offset:offset + f.shape[0]].reshape(blocks[nm].shape)
            offset += f.shape[0]
    return out


@dataclass(frozen=True)
class Needs:
    """Which terms of the superposition a model and data set can make non-zero (decided on
    the host, so that the compiled solver skips exponentials it would multiply by zero)."""

    baseline: bool  # y0 or the constant input b
    infusions: bool  # any dose with RATE != 0


def needs(model, events) -> Needs:
    a = events.arrays
    infusions = bool(np.any((a["dose_rate"] != 0) & a["dose_valid"]))
    return Needs(baseline=not _zero_baseline(model), infusions=infusions)


@functools.lru_cache(maxsize=64)
def _zero_baseline(model) -> bool:
    """True when y0 and b are zero at three random parameter and covariate vectors: they
    then do not depend on them (an exact zero from random positive inputs is structural)."""
    rng = np.random.default_rng(0)
    p0 = np.array([float(x.value) for x in model.params])
    c0 = np.array([float(x.default) for x in model.covariates] + [0.0] * len(model.switches))
    c0 = np.where(np.isfinite(c0), c0, 1.0)
    for _ in range(3):
        p = jnp.asarray(p0 * rng.uniform(0.5, 2.0, p0.shape) + rng.uniform(0, 1e-3, p0.shape))
        c = jnp.asarray(c0 * rng.uniform(0.5, 2.0, c0.shape) + rng.uniform(0, 1e-3, c0.shape))
        _, b = model.linear_system(p, c)
        y0 = model.initial_state(p, c)
        if not (np.all(np.asarray(b) == 0) and np.all(np.asarray(y0) == 0)):
            return False
    return True


def _augmented(a, g, tau):
    """``[[A, g], [0, 0]] * tau`` for ``g`` of shape (..., n) and ``tau`` of shape (...)."""
    n = a.shape[-1]
    shape = g.shape[:-1]
    m = jnp.zeros((*shape, n + 1, n + 1), dtype=a.dtype)
    m = m.at[..., :n, :n].set(jnp.broadcast_to(a, (*shape, n, n)))
    m = m.at[..., :n, n].set(g)
    return m * tau[..., None, None]


@functools.lru_cache(maxsize=64)
def batch_solver(model, needs: Needs | None = None):
    """A jitted ``(params (S, P), arrays) -> (outputs, states, status)``, like
    `engine.batch_solver`. ``needs`` (from `needs(model, events)`) lets it skip terms that
    are zero; the default computes everything."""
    needs = needs or Needs(baseline=True, infusions=True)
    return jax.jit(jax.vmap(functools.partial(solve_subject, model, needs)))
