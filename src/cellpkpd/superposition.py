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

import jax
import jax.numpy as jnp
import numpy as np

from .engine import BAD_MODELED_INFUSION, NONFINITE_STATE, _dose_quantities

_MAX_SQUARINGS = 30  # scaling by 2**-30 covers ||A t|| up to ~1e9
_TAYLOR_DEGREE = 16  # after scaling ||X||_1 <= 1: truncation error < 1/17! ~ 3e-15


def expm_small(m):
    """Matrix exponential of a batch of small matrices ``(..., k, k)``, by scaling and
    squaring with a fixed-degree Taylor polynomial.

    Straight-line code with a fixed trip count, so it vectorises and reverse-differentiates
    without while loops (``jax.scipy.linalg.expm`` needs a dynamic squaring count).
    """
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


def solve_subject(model, p, ev):
    """Outputs and states at every record of one subject, and a status bit mask (the engine's
    `solve_subject` contract)."""
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

    # Every exponential the subject needs, in one batch of (n+1)x(n+1) matrices (the loop
    # inside expm_small costs per call, not per matrix): the baseline's augmented exponential
    # from the first record, each pair's infused amount Phi(during) R e_k (augmented), and
    # each pair's decay e^{A after} (embedded, its last column unused).
    tau0 = jnp.maximum(t_rec - t0, 0.0)
    base_m = _augmented(a, jnp.broadcast_to(b, (n_rec, n)), tau0)
    inf_m = _augmented(a, jnp.broadcast_to((r_inf[:, None] * onehot)[None], (n_rec, n_dose, n)),
                       during).reshape(n_rec * n_dose, n + 1, n + 1)
    decay_m = _augmented(a, jnp.zeros((n_rec, n_dose, n), dtype),
                         after).reshape(n_rec * n_dose, n + 1, n + 1)
    e = expm_small(jnp.concatenate([base_m, inf_m, decay_m]))
    base = e[:n_rec]
    infused = e[n_rec:n_rec + n_rec * n_dose, :n, n].reshape(n_rec, n_dose, n)
    decay = e[n_rec + n_rec * n_dose:, :n, :n].reshape(n_rec, n_dose, n, n)

    y = base[:, :n, :n] @ y0 + base[:, :n, n]
    given = jnp.where(is_inf[None, :, None], infused, (amt_f[:, None] * onehot)[None])
    y = y + jnp.einsum("rdij,rdj->ri", decay, jnp.where(counts[..., None], given, 0.0))

    out = jax.vmap(lambda t, yy: model.output_values(t, yy, p, c_full))(t_rec, y)
    finite = jnp.all(jnp.isfinite(y) | ~ev["rec_valid"][:, None])
    status = status | jnp.where(finite, 0, NONFINITE_STATE)
    return out, y, jnp.int32(status)


def _augmented(a, g, tau):
    """``[[A, g], [0, 0]] * tau`` for ``g`` of shape (..., n) and ``tau`` of shape (...)."""
    n = a.shape[-1]
    shape = g.shape[:-1]
    m = jnp.zeros((*shape, n + 1, n + 1), dtype=a.dtype)
    m = m.at[..., :n, :n].set(jnp.broadcast_to(a, (*shape, n, n)))
    m = m.at[..., :n, n].set(g)
    return m * tau[..., None, None]


@functools.lru_cache(maxsize=64)
def batch_solver(model):
    """A jitted ``(params (S, P), arrays) -> (outputs, states, status)``, like
    `engine.batch_solver`."""
    return jax.jit(jax.vmap(functools.partial(solve_subject, model)))
