"""The one integration primitive the event engine needs: carry the state from ``t0`` to ``t1``
under a constant infusion-rate vector ``r`` (``dy/dt = f(t, y) + r``).

Two implementations: diffrax (any model) and the exact matrix exponential (linear models).
Each returns ``(y1, ok)``; a failed solve is a flag, never an exception inside a trace.
"""

from __future__ import annotations

import functools

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import expm

from .rosenbrock import Rodas4
from .solver import Solver
from .sparsity import SparsePlan, jacobian_pattern
from .split_vector import SplitVector

_METHODS = {"tsit5": diffrax.Tsit5, "kvaerno3": diffrax.Kvaerno3, "kvaerno4": diffrax.Kvaerno4,
            "kvaerno5": diffrax.Kvaerno5}


def _example_arguments(model):
    p = jnp.asarray(list(model.default_params().values()))
    c = jnp.zeros(len(model.covariates) + len(model.switches))
    return p, c


@functools.lru_cache(maxsize=64)
def state_pattern(model) -> np.ndarray:
    """Structural non-zeros of the Jacobian of ``model``'s vector field."""
    return jacobian_pattern(lambda y, p, c: model.rhs(0.0, y, p, c), model.n_states,
                            *_example_arguments(model))


@functools.lru_cache(maxsize=64)
def output_pattern(model) -> np.ndarray:
    """Structural dependence of each output (rows) on each state (columns)."""
    return jacobian_pattern(lambda y, p, c: model.output_values(0.0, y, p, c), model.n_states,
                            *_example_arguments(model))


def outputs_within(model, active: tuple[int, ...]) -> np.ndarray:
    """Which outputs read only ``active`` states (boolean, one per output)."""
    outside = np.ones(model.n_states, bool)
    outside[list(active)] = False
    return ~output_pattern(model)[:, outside].any(axis=1)


@functools.lru_cache(maxsize=64)
def active_states(model, outputs: tuple[str, ...]) -> tuple[int, ...] | None:
    """The states ``outputs`` depend on, directly or through the dynamics (sorted indices), or
    None when that is every state.

    Why: a fit that observes a few outputs of a large cascade model (``msc_ifna`` observed in
    qPCR, IFN-α, IL-6, CD8 and SLD needs 15 of its 26 states) need not integrate the rest;
    the states left out never feed back into the ones kept, so the kept trajectories are
    unchanged and the solve is cheaper.
    """
    rows = [model.output_names.index(name) for name in outputs]
    needed = output_pattern(model)[rows].any(axis=0)
    dynamics = state_pattern(model)
    while True:
        grown = needed | dynamics[needed].any(axis=0)
        if (grown == needed).all():
            break
        needed = grown
    return None if needed.all() else tuple(int(i) for i in np.flatnonzero(needed))


@functools.lru_cache(maxsize=64)
def jacobian_plan(model, active: tuple[int, ...] | None = None) -> SparsePlan | None:
    """The sparse plan for the Jacobian of ``model``'s vector field (restricted to the
    ``active`` states), or None where dense algebra is as good (a filled pattern over half
    full, or too large to unroll)."""
    pattern = state_pattern(model)
    if active is not None:
        pattern = pattern[np.ix_(active, active)]
    n = pattern.shape[0]
    plan = SparsePlan.from_pattern(pattern)
    if n > 200 or (n > 8 and len(plan.factor_entries) > 0.5 * n * n):
        return None
    return plan


def affine_step(a, g, y0, dt):
    """Exact solution of ``dy/dt = A y + g`` after ``dt``, through the exponential of the
    augmented matrix ``[[A, g], [0, 0]]`` (valid for singular A and repeated eigenvalues).

    The input column is scaled to unit size first and the result scaled back: the top-right
    block is linear in g, so this is exact, and it keeps an infusion rate of 1e8 cells/day
    from dominating the matrix norm, which made expm's scaling and squaring return NaN. The
    scale is held constant under differentiation, which is exact for the same reason."""
    n = a.shape[0]
    size = jnp.max(jnp.abs(g))
    scale = jax.lax.stop_gradient(jnp.where(size > 0, size, 1.0))
    m = jnp.zeros((n + 1, n + 1), dtype=a.dtype)
    m = m.at[:n, :n].set(a).at[:n, n].set(g / scale)
    e = expm(m * dt)
    return e[:n, :n] @ y0 + e[:n, n] * scale


class CarriedStepController(diffrax.AbstractAdaptiveStepSizeController):
    """A PID controller that starts from a carried step size and reports the step size it
    would take next, so that the event engine can continue across an event instead of
    restarting with a small step.

    Why: observation records and infusion ends cut the integration into segments (~370 per
    subject on the 12-cycle ``msc_ifna`` regimen), and each restart would otherwise pay
    diffrax's initial-step heuristic and a ramp-up from a small step. Measured, it saves
    little there (40 -> 39 ms per subject with dense Rodas4): most steps are spent resolving
    the dynamics after each dose. The report ignores the final step's clipping to the segment
    end, which says nothing about the dynamics.
    """

    inner: diffrax.PIDController
    dt_hint: jnp.ndarray  # <= 0: no hint, use the inner controller's initial-step selection

    @property
    def rtol(self):
        return self.inner.rtol

    @property
    def atol(self):
        return self.inner.atol

    @property
    def norm(self):
        return self.inner.norm

    def wrap(self, direction):
        return self

    def init(self, terms, t0, t1, y0, dt0, args, func, error_order):
        t_next, state = self.inner.init(terms, t0, t1, y0, dt0, args, func, error_order)
        hint = jax.lax.stop_gradient(self.dt_hint)
        t_next = jnp.where(hint > 0, t0 + hint, t_next)
        return t_next, (state, jnp.asarray(t1), t_next - t0)

    def adapt_step_size(self, t0, t1, y0, y1_candidate, args, y_error, error_order,
                        controller_state):
        state, end, proposal = controller_state
        keep, next_t0, next_t1, jump, state, result = self.inner.adapt_step_size(
            t0, t1, y0, y1_candidate, args, y_error, error_order, state)
        step = jax.lax.stop_gradient(next_t1 - next_t0)
        clipped = t1 >= end
        proposal = jnp.where(keep, jnp.where(clipped, jnp.maximum(step, proposal), step),
                             proposal)
        return keep, next_t0, next_t1, jump, (state, end, proposal), result


def make_flow(model, solver: Solver, *, forward_mode: bool = False, carry_step: bool = False,
              active: tuple[int, ...] | None = None):
    """Return ``flow(y, t0, t1, r, p, c) -> (y1, ok)`` for ``model``.

    With ``active`` (see `active_states`) only those states are integrated; the others keep
    their values, which is exact for the active ones because nothing they depend on is left
    out (and wrong for the others: callers must not read them).

    ``forward_mode`` selects a diffrax adjoint that supports ``jax.jvp``/``jacfwd`` (used by
    the steady-state Newton iteration); the default supports reverse mode.

    With ``carry_step`` the flow is ``flow(y, t0, t1, r, p, c, dt) -> (y1, ok, dt_next)``:
    ``dt`` (<= 0 for none) is the step size to start with and ``dt_next`` the adaptive
    step size to continue with after ``t1``.
    """
    if solver.method == "closed_form":

        def closed_form(y, t0, t1, r, p, c, dt=None):
            a, b = model.linear_system(p, c)
            out = affine_step(a, b + r, y, t1 - t0), jnp.bool_(True)
            return (*out, dt) if carry_step else out

        return closed_form

    if active is None:
        def vector_field(t, y, args):
            p, c, r = args
            return model.rhs(t, y, p, c) + r

        def pack(y, r, p, c):
            return y, (p, c, r)

        def unpack(y, y1):
            return y1
    else:
        # The solver sees the active states only; the frozen ones ride along in the arguments.
        # The active states' derivatives structurally never read the frozen ones
        # (`active_states`), so the frozen values enter as constants: no tangents, and the
        # vector field reads the active states from the solver's own vector (no scatter).
        idx = np.asarray(active)

        def vector_field(t, y, args):
            p, c, r, y_rest = args  # r: the active states' infusion rates
            return model.rhs(t, SplitVector(y_rest, y, active), p, c, rows=active) + r

        def pack(y, r, p, c):
            return y[idx], (p, c, r[idx], jax.lax.stop_gradient(y))

        def unpack(y, y1):
            return y.at[idx].set(y1)

    term = diffrax.ODETerm(vector_field)
    method = (Rodas4(jacobian_plan(model, active),
                     derivative="forward" if forward_mode else "reverse")
              if solver.method == "rodas4"
              else _METHODS[solver.method]())
    if solver.method.startswith(("kvaerno", "rodas")):
        # A PI controller: with the plain I controller the implicit methods' step sizes
        # oscillate on stiff models (msc_ifna: 3x more steps, half of them rejected).
        controller = diffrax.PIDController(rtol=solver.rtol, atol=solver.atol, pcoeff=0.3,
                                           icoeff=0.4)
    else:
        controller = diffrax.PIDController(rtol=solver.rtol, atol=solver.atol)
    adjoint = diffrax.ForwardMode() if forward_mode else diffrax.RecursiveCheckpointAdjoint()

    def ode(y, t0, t1, r, p, c):
        y0, args = pack(y, r, p, c)
        sol = diffrax.diffeqsolve(
            term, method, t0, t1, None, y0, args=args,
            stepsize_controller=controller, max_steps=solver.max_steps, throw=False,
            adjoint=adjoint, saveat=diffrax.SaveAt(t1=True),
        )  # fmt: skip
        ok = sol.result == diffrax.RESULTS.successful
        return unpack(y, sol.ys[-1]), ok

    def ode_carrying(y, t0, t1, r, p, c, dt):
        y0, args = pack(y, r, p, c)
        sol = diffrax.diffeqsolve(
            term, method, t0, t1, None, y0, args=args,
            stepsize_controller=CarriedStepController(controller, dt), max_steps=solver.max_steps,
            throw=False, adjoint=adjoint, saveat=diffrax.SaveAt(t1=True, controller_state=True),
        )  # fmt: skip
        ok = sol.result == diffrax.RESULTS.successful
        # An empty interval takes no step and reports nothing new.
        dt_next = jnp.where(t1 > t0, sol.controller_state[2], dt)
        return unpack(y, sol.ys[-1]), ok, dt_next

    return ode_carrying if carry_step else ode
