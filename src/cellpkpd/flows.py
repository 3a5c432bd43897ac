"""The one integration primitive the event engine needs: carry the state from ``t0`` to ``t1``
under a constant infusion-rate vector ``r`` (``dy/dt = f(t, y) + r``).

Two implementations: diffrax (any model) and the exact matrix exponential (linear models).
Each returns ``(y1, ok)``; a failed solve is a flag, never an exception inside a trace.
"""

from __future__ import annotations

import diffrax
import jax.numpy as jnp
from jax.scipy.linalg import expm

from .solver import Solver

_METHODS = {"tsit5": diffrax.Tsit5, "kvaerno3": diffrax.Kvaerno3, "kvaerno4": diffrax.Kvaerno4,
            "kvaerno5": diffrax.Kvaerno5}


def affine_step(a, g, y0, dt):
    """Exact solution of ``dy/dt = A y + g`` after ``dt``, through the exponential of the
    augmented matrix ``[[A, g], [0, 0]]`` (valid for singular A and repeated eigenvalues)."""
    n = a.shape[0]
    m = jnp.zeros((n + 1, n + 1), dtype=a.dtype)
    m = m.at[:n, :n].set(a).at[:n, n].set(g)
    e = expm(m * dt)
    return e[:n, :n] @ y0 + e[:n, n]


def make_flow(model, solver: Solver, *, forward_mode: bool = False):
    """Return ``flow(y, t0, t1, r, p, c) -> (y1, ok)`` for ``model``.

    ``forward_mode`` selects a diffrax adjoint that supports ``jax.jvp``/``jacfwd`` (used by
    the steady-state Newton iteration); the default supports reverse mode.
    """
    if solver.method == "closed_form":

        def closed_form(y, t0, t1, r, p, c):
            a, b = model.linear_system(p, c)
            return affine_step(a, b + r, y, t1 - t0), jnp.bool_(True)

        return closed_form

    def vector_field(t, y, args):
        p, c, r = args
        return model.rhs(t, y, p, c) + r

    term = diffrax.ODETerm(vector_field)
    method = _METHODS[solver.method]()
    if solver.method.startswith("kvaerno"):
        # A PI controller: with the plain I controller the implicit methods' step sizes
        # oscillate on stiff models (msc_ifna: 3x more steps, half of them rejected).
        controller = diffrax.PIDController(rtol=solver.rtol, atol=solver.atol, pcoeff=0.3,
                                           icoeff=0.4)
    else:
        controller = diffrax.PIDController(rtol=solver.rtol, atol=solver.atol)
    adjoint = diffrax.ForwardMode() if forward_mode else diffrax.RecursiveCheckpointAdjoint()

    def ode(y, t0, t1, r, p, c):
        sol = diffrax.diffeqsolve(
            term, method, t0, t1, None, y, args=(p, c, r),
            stepsize_controller=controller, max_steps=solver.max_steps, throw=False,
            adjoint=adjoint, saveat=diffrax.SaveAt(t1=True),
        )  # fmt: skip
        ok = sol.result == diffrax.RESULTS.successful
        return sol.ys[-1], ok

    return ode
