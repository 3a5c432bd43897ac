"""Derivatives of a batch solve with respect to a few estimated parameters.

Two ways, the same derivative (that of the discrete scheme):

- `sensitivity_solver`: forward-mode sensitivities, k tangents pushed through the solve
  (``jacfwd`` over the estimated columns of each subject's parameter vector). It costs about
  one extra tangent pass per parameter and stores nothing, and its result serves both reverse
  mode (the VJP is a contraction with the stored Jacobian) and forward mode.
- `adjoint_solver`: reverse mode through the steps (Rodas4's discrete adjoint, diffrax's
  checkpointed loop, the event scan). Its cost does not grow with k, but it replays and
  reverses every step, so it pays off only for many parameters (`fitting.run.solver_for`).

The solver's inputs other than the estimated columns (fixed parameters, event arrays) are
treated as constants: derivatives with respect to them are zero here.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import engine
from .split_vector import SplitVector


@functools.lru_cache(maxsize=64)
def sensitivity_solver(model, solver, n_overlap: int, has_periodic: bool, has_constant: bool,
                       columns: tuple[int, ...], active: tuple[int, ...] | None = None,
                       dense_tangents: bool = False):
    """A jitted ``(theta (S, P), arrays) -> (outputs, states, status)`` like
    `engine.batch_solver`, whose derivative with respect to ``theta[:, columns]`` comes from
    forward-mode sensitivities. ``active``: integrate only these states (see
    `engine.solve_subject`).

    Only the estimated entries carry tangents (a `SplitVector`), so the solve's arithmetic on
    the fixed parameters is not repeated per tangent. ``dense_tangents`` restores the former
    dense parameter tangent; the derivative is the same, and benchmarks and tests use it as
    the reference."""
    one = functools.partial(engine.solve_subject, model, solver, n_overlap, has_periodic,
                            has_constant, forward_mode=True, active=active)
    cols = np.asarray(columns, dtype=int)

    def subject_with_jacobian(p, ev):
        def solve_at(x):
            params = p.at[cols].set(x) if dense_tangents else SplitVector(p, x, columns)
            out, states, status = one(params, ev)
            return (out, states), (out, states, status)

        (j_out, j_states), primal = jax.jacfwd(solve_at, has_aux=True)(p[cols])
        return primal, j_out, j_states

    batch = jax.vmap(one)
    with_jacobian = jax.vmap(subject_with_jacobian)

    @jax.custom_jvp
    def solve(theta, arrays):
        return batch(theta, arrays)

    @solve.defjvp
    def solve_jvp(primals, tangents):
        theta, arrays = primals
        t_theta = tangents[0]
        (out, states, status), j_out, j_states = with_jacobian(theta, arrays)
        # A failed subject's Jacobian may hold NaN; its likelihood is -inf and its
        # cotangents zero, and 0 * NaN must not poison the gradient.
        j_out = jnp.where(jnp.isfinite(j_out), j_out, 0.0)
        j_states = jnp.where(jnp.isfinite(j_states), j_states, 0.0)
        t_sub = t_theta[:, cols]
        t_out = jnp.einsum("srok,sk->sro", j_out, t_sub)
        t_states = jnp.einsum("srnk,sk->srn", j_states, t_sub)
        t_status = np.zeros(status.shape, dtype=jax.dtypes.float0)
        return (out, states, status), (t_out, t_states, t_status)

    return jax.jit(solve)


@functools.lru_cache(maxsize=64)
def adjoint_solver(model, solver, n_overlap: int, has_periodic: bool, has_constant: bool,
                   columns: tuple[int, ...], active: tuple[int, ...] | None = None):
    """Like `sensitivity_solver`, but the derivative with respect to ``theta[:, columns]``
    comes from reverse mode: each Rodas4 step's discrete adjoint (`rosenbrock._w_solve_reverse`),
    chained through diffrax's checkpointed loop and the event scan.

    Why: forward sensitivities cost one pass of tangent arithmetic per estimated parameter;
    the adjoint costs one reverse pass whatever their number, at the price of storing
    (checkpointed) forward steps. Which is cheaper depends on the number of parameters and
    on the solve: `fitting.run.solver_for` chooses."""
    one = functools.partial(engine.solve_subject, model, solver, n_overlap, has_periodic,
                            has_constant, active=active)
    cols = np.asarray(columns, dtype=int)
    batch = jax.vmap(one)

    def split_batch(theta, x, arrays):
        return jax.vmap(lambda p, xs, ev: one(SplitVector(p, xs, columns), ev))(
            theta, x, arrays)

    @jax.custom_vjp
    def solve(theta, arrays):
        return batch(theta, arrays)

    def solve_fwd(theta, arrays):
        (out, states, status), pullback = jax.vjp(
            lambda x: split_batch(theta, x, arrays), theta[:, cols])
        return (out, states, status), (pullback, status, theta.shape)

    def solve_bwd(residuals, cotangents):
        pullback, status, shape = residuals
        g_out, g_states, _ = cotangents
        # A failed subject's likelihood is -inf and its cotangents zero, but its reverse pass
        # runs through non-finite states: 0 * NaN must not poison the batch's gradient.
        g_out = jnp.where(jnp.isfinite(g_out), g_out, 0.0)
        g_states = jnp.where(jnp.isfinite(g_states), g_states, 0.0)
        t_status = np.zeros(status.shape, dtype=jax.dtypes.float0)
        (g_x,) = pullback((g_out, g_states, t_status))
        g_x = jnp.where(jnp.isfinite(g_x), g_x, 0.0)
        g_theta = jnp.zeros(shape, g_x.dtype).at[:, cols].set(g_x)
        return g_theta, None

    solve.defvjp(solve_fwd, solve_bwd)
    return jax.jit(solve)
