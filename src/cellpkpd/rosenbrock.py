"""Rodas4: a linearly implicit (Rosenbrock) stiff solver, as a diffrax solver.

Why: the ESDIRK methods (Kvaerno) solve a nonlinear system at every stage by Newton
iteration. A Rosenbrock method replaces that with one Jacobian, one LU factorisation and one
triangular solve per stage, which on the 26-state ``msc_ifna`` model is several times cheaper
per step at the same order. Rodas4 is L-stable and stiffly accurate, of order 4 with an
embedded order-3 error estimate.

Coefficients are those of Hairer & Wanner, *Solving Ordinary Differential Equations II*, 2nd
ed. (Springer 1996), §VI.4, in their transformed form (the code RODAS): with
``W = I / (h gamma) - J``, stage ``i`` solves

    W k_i = f(t0 + c_i h, y0 + sum_j a_ij k_j) + sum_j (C_ij / h) k_j + h d_i df/dt,

the solution is the stage-6 argument plus ``k_6`` and the error estimate is ``k_6``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jax.custom_derivatives import CustomVJPPrimal, SymbolicZero
from jax.scipy.linalg import lu_factor, lu_solve

from .errors import ParameterError
from .sparsity import SparsePlan

GAMMA = 0.25
C = (0.0, 0.386, 0.21, 0.63, 1.0, 1.0)
D = (0.25, -0.1043, 0.1035, -0.0362, 0.0, 0.0)
A = (
    (),
    (1.544,),
    (0.9466785280815826, 0.2557011698983284),
    (3.314825187068521, 2.896124015972201, 0.9986419139977817),
    (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950),
)
CC = (
    (),
    (-5.6688,),
    (-2.430093356833875, -0.2063599157091915),
    (-0.1073529058151375, -9.594562251023355, -20.47028614809616),
    (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160),
    (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
     -6.058818238834054),
)


def _factor(f_frozen, y0, diagonal, plan: SparsePlan | None):
    """Factors of ``W = diagonal I - J`` with ``J`` the Jacobian of ``f_frozen`` at ``y0``."""
    jvp = jax.linearize(f_frozen, y0)[1]
    if plan is None:
        eye = jnp.eye(y0.shape[0], dtype=y0.dtype)
        return lu_factor(diagonal * eye - jax.vmap(jvp)(eye).T)
    seeds = jnp.asarray(plan.seeds, y0.dtype)
    compressed = jax.vmap(jvp)(seeds) if plan.n_colours else jnp.zeros((0, y0.shape[0]))
    lu = plan.factor(diagonal, plan.jacobian_values(compressed))
    # One array, not a dict of scalars: the factors cross the custom derivative rules below
    # as a single operand.
    return jnp.stack([lu[e] for e in plan.factor_entries])


def _unpacked(plan: SparsePlan, factors) -> dict:
    return {e: factors[k] for k, e in enumerate(plan.factor_entries)}


def _solve(plan: SparsePlan | None, factors, b):
    return lu_solve(factors, b) if plan is None else plan.solve(_unpacked(plan, factors), b)


def _solve_transposed(plan: SparsePlan | None, factors, b):
    if plan is None:
        return lu_solve(factors, b, trans=1)
    return plan.solve_transposed(_unpacked(plan, factors), b)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _w_solve(vf, plan, t0, y0, args, h, factors, b):
    """``W^-1 b`` with ``W = I / (h gamma) - J(t0, y0, args)`` given as ``factors``.

    Why a custom rule: the tangent of ``W^-1 b`` is ``W^-1 (db - dW W^-1 b)``, and ``dW k`` is
    one second directional derivative of the vector field (a nested jvp). Differentiating the
    factorisation itself instead (what ``jax.jvp`` would do) costs a second-derivative
    Jacobian and an LU tangent per parameter and per step: on ``msc_ifna`` that made a
    7-parameter forward-sensitivity gradient ~30x the cost of a solve. The derivative is that
    of the same discrete scheme, so it is exact, not an approximation.
    """
    del vf, t0, y0, args, h
    return _solve(plan, factors, b)


def _w_solve_jvp(vf, plan, primals, tangents):
    t0, y0, args, h, factors, b = primals
    dt0, dy0, dargs, dh, _, db = tangents
    k = _solve(plan, factors, b)
    # Symbolic zeros (a fixed parameter, a covariate, an undifferentiated step size) stay
    # unmaterialised: the second-order term is pushed only along the inputs that move.
    moving, _ = jax.tree.flatten((dt0, dy0, dargs), is_leaf=_is_zero)
    live = [i for i, d in enumerate(moving) if not _is_zero(d)]
    rhs = None if _is_zero(db) else db
    if live:
        along_live, at = _jacobian_times_k_along(vf, k, (t0, y0, args), live)
        dj_k = jax.jvp(along_live, at, tuple(moving[i] for i in live))[1]
        rhs = dj_k if rhs is None else rhs + dj_k
    if not _is_zero(dh):
        term = (dh / (h * h * GAMMA)) * k
        rhs = term if rhs is None else rhs + term
    dk = jnp.zeros_like(k) if rhs is None else _solve(plan, factors, rhs)
    return k, dk


def _jacobian_times_k_along(vf, k, inputs, live: list[int]):
    """``J(t0, y0, args) k`` as a function of the ``live`` leaves of ``inputs = (t0, y0,
    args)`` only (the others held at their values), and those leaves' values: what both
    derivative rules differentiate, one by jvp and one by vjp."""
    leaves, tree = jax.tree.flatten(inputs)

    def along_live(*values):
        full = list(leaves)
        for i, v in zip(live, values, strict=True):
            full[i] = v
        t, y, a = jax.tree.unflatten(tree, full)
        return jax.jvp(lambda yy: vf(t, yy, a), (y,), (k,))[1]

    return along_live, tuple(leaves[i] for i in live)


def _is_zero(tangent) -> bool:
    return isinstance(tangent, SymbolicZero)


_w_solve.defjvp(_w_solve_jvp, symbolic_zeros=True)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _w_solve_reverse(vf, plan, t0, y0, args, h, factors, b):
    """`_w_solve` for reverse mode: the same discrete derivative as its transpose.

    Why: with ``k = W^-1 b`` and ``W = I / (h gamma) - J``, a cotangent ``g`` of ``k`` gives
    ``lam = W^-T g`` (one transposed solve with the step's own factors) and then

    - ``b``: ``lam``;
    - ``t0, y0, args``: ``lam^T (dJ k)``, one reverse pass through the directional derivative
      ``J k`` (a vjp of a jvp), only along the inputs that are differentiated;
    - ``h``: ``lam^T k / (h^2 gamma)``.

    The factorisation is never differentiated. A solve's reverse pass then costs about what
    one tangent of `_w_solve`'s forward rule costs, whatever the number of parameters: this
    is the discrete adjoint of the Rosenbrock scheme, exact for the steps it took.
    """
    del vf, t0, y0, args, h
    return _solve(plan, factors, b)


def _w_solve_reverse_fwd(vf, plan, t0, y0, args, h, factors, b):
    values = jax.tree.map(lambda leaf: leaf.value, (t0, y0, args, h, factors, b),
                          is_leaf=_is_primal)
    perturbed = jax.tree.map(lambda leaf: leaf.perturbed, (t0, y0, args, h),
                             is_leaf=_is_primal)
    t0, y0, args, h, factors, b = values
    k = _solve(plan, factors, b)
    return k, (t0, y0, args, h, factors, k, perturbed)


def _w_solve_reverse_bwd(vf, plan, residuals, g):
    t0, y0, args, h, factors, k, perturbed = residuals
    leaves, tree = jax.tree.flatten((t0, y0, args))
    moving = jax.tree.leaves(perturbed[:3])
    live = [i for i, m in enumerate(moving) if m]
    ct_leaves = [None] * len(leaves)
    if _is_zero(g):
        lam = jnp.zeros_like(k)
    else:
        lam = _solve_transposed(plan, factors, g)
        if live:
            along_live, at = _jacobian_times_k_along(vf, k, (t0, y0, args), live)
            pullback = jax.vjp(along_live, *at)[1]
            for i, ct in zip(live, pullback(lam), strict=True):
                ct_leaves[i] = ct
    ct_t0, ct_y0, ct_args = jax.tree.unflatten(tree, ct_leaves)
    ct_h = jnp.vdot(lam, k) / (h * h * GAMMA) if perturbed[3] else None
    ct_factors = jax.tree.map(lambda _: None, factors)
    return ct_t0, ct_y0, ct_args, ct_h, ct_factors, lam


def _is_primal(leaf) -> bool:
    return isinstance(leaf, CustomVJPPrimal)


_w_solve_reverse.defvjp(_w_solve_reverse_fwd, _w_solve_reverse_bwd, symbolic_zeros=True)


DERIVATIVES = ("forward", "reverse", "autodiff")


def rodas4_step(vf, t0, y0, h, args, plan: SparsePlan | None = None,
                derivative: str = "forward"):
    """One Rodas4 step of ``dy/dt = vf(t, y, args)``: ``(y1, error estimate)``. With a
    `SparsePlan` the Jacobian is probed by colour and ``W`` factorised sparsely; otherwise
    densely. Derivatives are those of the discrete scheme in every case; ``derivative`` says
    how they are computed:

    - ``"forward"``: `_w_solve`'s tangent rule (the factorisation is computed from frozen
      inputs and never differentiated), for jvp/jacfwd;
    - ``"reverse"``: `_w_solve_reverse`, its transpose written out (the discrete adjoint),
      for vjp/grad;
    - ``"autodiff"``: JAX differentiates the Jacobian and its factorisation too (either mode;
      far costlier, kept as the reference the other two are tested against)."""
    if derivative not in DERIVATIVES:
        raise ParameterError(f"derivative={derivative!r} is not one of {DERIVATIVES}")
    # A zero step is one a vmapped loop takes, masked, for a subject already at its interval
    # end. Its result is discarded, but in reverse mode the zero cotangent it gets meets the
    # infinite 1/h, and 0 * inf = NaN would reach the batch's gradient: step by 1 instead,
    # and select y0 (both selections are exact where they apply).
    empty = h == 0
    h = jnp.where(empty, jnp.ones_like(h), h)
    if derivative == "autodiff":
        factors = _factor(lambda y: vf(t0, y, args), y0, 1.0 / (h * GAMMA), plan)

        def solve(b):
            return _solve(plan, factors, b)
    else:
        frozen = jax.lax.stop_gradient
        t0_c, y0_c, args_c = frozen(t0), frozen(y0), frozen(args)
        factors = _factor(lambda y: vf(t0_c, y, args_c), y0_c, 1.0 / (frozen(h) * GAMMA), plan)
        rule = _w_solve if derivative == "forward" else _w_solve_reverse

        def solve(b):
            return rule(vf, plan, t0, y0, args, h, factors, b)

    def f(t, y):
        return vf(t, y, args)

    f0 = f(t0, y0)
    ft = jax.jvp(lambda t: f(t, y0), (t0,), (jnp.ones_like(t0),))[1]
    ks = []
    for i in range(6):
        if i == 0:
            u, fi = y0, f0
        elif i < 5:
            u = y0 + sum(a * k for a, k in zip(A[i], ks, strict=True))
            fi = f(t0 + C[i] * h, u)
        else:  # stage 6 starts where stage 5 ended (stiff accuracy)
            u = u + ks[4]
            fi = f(t0 + h, u)
        rhs = fi + sum((c / h) * k for c, k in zip(CC[i], ks, strict=True))
        if D[i]:
            rhs = rhs + (h * D[i]) * ft
        ks.append(solve(rhs))
    y1, err = u + ks[5], ks[5]
    return jnp.where(empty, y0, y1), jnp.where(empty, 0.0, err)


class Rodas4(diffrax.AbstractAdaptiveSolver):
    """Rodas4 (Hairer & Wanner) for ``diffrax.diffeqsolve`` with a single ``ODETerm`` whose
    state is a 1-D array. ``plan`` (optional) is the `SparsePlan` of the vector field's
    Jacobian; ``derivative``: see `rodas4_step` ("forward" for jvp, "reverse" for grad)."""

    plan: SparsePlan | None = eqx.field(static=True, default=None)
    derivative: str = eqx.field(static=True, default="forward")

    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar[Callable[..., diffrax.LocalLinearInterpolation]] = (
        diffrax.LocalLinearInterpolation
    )

    def order(self, terms):
        return 4

    def error_order(self, terms):
        return 4

    def init(self, terms, t0, t1, y0, args):
        return None

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del solver_state, made_jump
        t0 = jnp.asarray(t0, y0.dtype)
        # The custom tangent rule needs the vector field as a pure function: the term's
        # arrays (diffrax may wrap it with traced values) travel with the arguments.
        arrays, static = eqx.partition(terms, eqx.is_array)

        def vf(t, y, packed):
            term_arrays, term_args = packed
            return eqx.combine(term_arrays, static).vf(t, y, term_args)

        y1, err = rodas4_step(vf, t0, y0, t1 - t0, (arrays, args), self.plan,
                              self.derivative)
        return y1, err, dict(y0=y0, y1=y1), None, diffrax.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)
