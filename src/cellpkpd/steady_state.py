"""Steady state for SS=1/2 dose records, NONMEM's way.

The state at steady state is a fixed point of the *period map*: the flow over one dosing
interval II that starts with the dose. It is found by Newton's method (exact in one step for
linear models, where the map is affine) and differentiated implicitly, so gradients are exact
without differentiating through the iterations:
``dy*/dθ = (I - ∂P/∂y)^{-1} ∂P/∂θ``.

Infusions longer than II overlap: at phase τ of the period, ``floor(D/II) + 1`` infusions run for
τ < D mod II and ``floor(D/II)`` after. A lag time shifts the actual doses to t0 + ALAG; the
record at t0 then sees the periodic state ``II - ALAG`` after the previous dose.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .infusion import infusion_rate_and_duration
from .split_vector import dtype_of

# Status bits (see engine.STATUS_MESSAGES).
SS_NOT_CONVERGED = 2
SS_OVERLAP_EXCEEDED = 4
SS_LAG_TOO_LONG = 8


def newton_root(residual, y0, theta, *, tol, max_iter, residual_fwd=None):
    """Solve ``residual(y, theta) = 0`` for y; exact implicit gradient with respect to theta.

    ``residual_fwd`` (default ``residual``) is the same function built to support forward-mode
    differentiation; it serves the iterations and the Jacobian, while ``residual`` is the one
    reverse-differentiated at the solution.

    Returns ``(y, converged)``.
    """
    residual_fwd = residual_fwd or residual
    theta_c = jax.lax.stop_gradient(theta)
    y0 = jax.lax.stop_gradient(y0)

    def jac(y, th):
        return jax.jacfwd(lambda v: residual_fwd(v, th))(y)

    def cond(state):
        _, i, err = state
        return (i < max_iter) & (err > tol)

    def body(state):
        y, i, _ = state
        g = residual_fwd(y, theta_c)
        dy = jnp.linalg.solve(jac(y, theta_c), -g)
        y_new = y + dy
        err = jnp.max(jnp.abs(dy) / (1.0 + jnp.abs(y_new)))
        return y_new, i + 1, jnp.where(jnp.isfinite(err), err, 0.0)

    y_star, _, _ = lax.while_loop(cond, body, (y0, 0, jnp.inf))
    g_final = residual_fwd(y_star, theta_c)
    scale = 1.0 + jnp.max(jnp.abs(y_star))
    converged = jnp.all(jnp.isfinite(y_star)) & (jnp.max(jnp.abs(g_final)) <= 1e3 * tol * scale)
    # One Newton step from the converged point with a constant Jacobian: the value is y*, and
    # its derivative with respect to theta is the implicit-function derivative.
    j_star = jax.lax.stop_gradient(jac(y_star, theta_c))
    y_out = y_star - jnp.linalg.solve(j_star, residual(y_star, theta))
    return y_out, converged


def steady_state(model, flow, flow_fwd, solver, p, c, *, t0, cmt, amt, rate, ii, f, lag,
                 r_model, d_model, n_overlap, has_periodic=True, has_constant=True):
    """State and infusion rates at the SS record's time ``t0``, and the end times of the past
    infusions still running then.

    ``has_periodic`` / ``has_constant`` (static) leave out the branch the data never uses, so
    that its linear algebra cannot leak NaN into gradients.

    Returns ``(y_t0, r_t0, end_times (n_overlap,), end_valid (n_overlap,), end_rate, status)``.
    """
    n = model.n_states
    dtype = dtype_of(p)
    e = (jnp.arange(n) == cmt).astype(dtype)
    is_inf = rate != 0
    amt_f = f * amt
    r_inf, dur = infusion_rate_and_duration(amt_f, rate, r_model, d_model)
    constant = is_inf & (amt == 0)

    safe_ii = jnp.where(ii > 0, ii, 1.0)
    n_full = jnp.floor(dur / safe_ii)
    rem = jnp.where(is_inf, dur - n_full * safe_ii, 0.0)
    bolus = jnp.where(is_inf, 0.0, amt_f) * e
    r1 = (n_full + 1.0) * r_inf * e
    r2 = n_full * r_inf * e
    t_dose = t0 + lag
    start = t_dose - safe_ii
    theta = (p, c, bolus, r1, r2, rem, start, safe_ii)

    def through_period(y, th, span, fl):
        p_, c_, bolus_, r1_, r2_, rem_, start_, _ = th
        seg1 = jnp.minimum(rem_, span)
        seg2 = jnp.maximum(span - rem_, 0.0)
        # Both segments through one traced solve (a scan), which halves compile time.
        t_from = jnp.stack([start_, start_ + seg1])
        t_to = jnp.stack([start_ + seg1, start_ + seg1 + seg2])

        def segment(y_, xs):
            a, b, r_ = xs
            y_, ok_ = fl(y_, a, b, r_, p_, c_)
            return y_, ok_

        y, oks = lax.scan(segment, y + bolus_, (t_from, t_to, jnp.stack([r1_, r2_])))
        return y, jnp.all(oks)

    def period_residual(y, th):
        return through_period(y, th, th[7], flow)[0] - y

    def period_residual_fwd(y, th):
        return through_period(y, th, th[7], flow_fwd)[0] - y

    y_init = model.initial_state(p, c)
    if has_periodic:
        y_pre, conv_periodic = newton_root(period_residual, y_init, theta,
                                           tol=solver.ss_tol, max_iter=solver.ss_max_iter,
                                           residual_fwd=period_residual_fwd)
        y_t0, ok_flow = through_period(y_pre, theta, safe_ii - lag, flow)
        conv_periodic = conv_periodic & ok_flow
    else:
        y_t0, conv_periodic = y_init, jnp.bool_(True)

    # A constant infusion at steady state (AMT=0, RATE>0): f(y) + R = 0.
    def constant_residual(y, th):
        p_, c_, r_ = th
        return model.rhs(t0, y, p_, c_) + r_

    if has_constant:
        y_const, conv_const = newton_root(constant_residual, y_init, (p, c, r_inf * e),
                                          tol=solver.ss_tol, max_iter=solver.ss_max_iter)
    else:
        y_const, conv_const = y_init, jnp.bool_(True)

    # Past infusions (doses at t_dose - k*II, k >= 1) still running at t0.
    n_running = jnp.where(is_inf & ~constant, jnp.ceil((dur + lag) / safe_ii) - 1.0, 0.0)
    n_running = jnp.maximum(n_running, 0.0)
    k = jnp.arange(1, n_overlap + 1, dtype=dtype)
    end_times = t_dose - k * safe_ii + dur
    end_valid = k <= n_running

    y_out = jnp.where(constant, y_const, y_t0)
    # NONMEM (nmtests scenario 29): an AMT=0 steady-state infusion sets the state and stops.
    r_out = jnp.where(constant, 0.0, n_running * r_inf) * e
    converged = jnp.where(constant, conv_const, conv_periodic)
    status = (
        jnp.where(converged, 0, SS_NOT_CONVERGED)
        | jnp.where(n_running > n_overlap, SS_OVERLAP_EXCEEDED, 0)
        | jnp.where(~constant & (lag >= safe_ii), SS_LAG_TOO_LONG, 0)
    )
    return y_out, r_out, end_times, end_valid, r_inf, status
