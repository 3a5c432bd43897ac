"""Derivatives of a batch solve by forward-mode sensitivities over a few parameters.

Reverse mode through a stiff solver differentiates its Jacobian and its linear algebra: on
`msc_ifna` with Rodas4 it takes many minutes to compile. A population fit estimates only a
handful of parameters, so pushing k tangents forward through the solve (``jacfwd`` over
the estimated columns of each subject's parameter vector) is cheap to compile and costs
about k forward solves, and its result serves both reverse mode (the VJP is a contraction
with the stored Jacobian) and forward mode.

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
