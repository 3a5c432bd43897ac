"""Solver settings: an immutable value passed as ``solver=`` to ``simulate`` and friends."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import ParameterError

METHODS = ("auto", "closed_form", "tsit5", "kvaerno3", "kvaerno4", "kvaerno5", "rodas4")


@dataclass(frozen=True)
class Solver:
    """How to integrate a model.

    Parameters
    ----------
    method : {"auto", "closed_form", "tsit5", "kvaerno3", "kvaerno4", "kvaerno5", "rodas4"}
        ``"closed_form"`` is the exact matrix exponential of a linear model; ``"tsit5"`` is an
        explicit Runge-Kutta method for non-stiff systems; ``"kvaerno3/4/5"`` are implicit
        (stiff, L-stable ESDIRK) ones of order 3, 4 and 5; ``"rodas4"`` is a linearly
        implicit (Rosenbrock, L-stable, order 4) stiff method with a sparse Jacobian, the
        fastest for simulating the stiff models; its derivatives (forward sensitivities, or
        reverse mode through each step's discrete adjoint) reuse each step's factorisation
        and are exact for the steps taken. ``"auto"`` picks
        the closed form for models declared linear and the model's ``default_solver``
        otherwise.
    rtol, atol : float
        Relative and absolute tolerances of the adaptive ODE methods (in state units).
    max_steps : int
        Most steps allowed in one interval between events; reaching it is a failed solve.
    ss_tol, ss_max_iter :
        Convergence of the steady-state (SS=1/2) Newton iteration on the dosing-period map.
    max_ss_overlap : int, optional
        Most past infusions still running when a steady-state infusion record is reached
        (infusion duration longer than II). Estimated from the data when not given.
    """

    method: str = "auto"
    rtol: float = 1e-8
    atol: float = 1e-10
    max_steps: int = 16_384
    ss_tol: float = 1e-10
    ss_max_iter: int = 50
    max_ss_overlap: int | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ParameterError(f"Solver(method={self.method!r}) is not one of {METHODS}")
        for name in ("rtol", "atol", "ss_tol"):
            value = getattr(self, name)
            if not value > 0:
                raise ParameterError(f"Solver({name}={value!r}) must be a number > 0")
        if self.max_steps < 1 or self.ss_max_iter < 1:
            raise ParameterError(
                f"Solver(max_steps={self.max_steps!r}, ss_max_iter={self.ss_max_iter!r}): both "
                "must be integers >= 1")

    def resolve(self, model) -> Solver:
        """The concrete method for ``model``."""
        method = self.method
        if method == "auto":
            method = "closed_form" if model.linear else model.default_solver
        if method == "closed_form" and not model.linear:
            raise ParameterError(
                f"Solver(method='closed_form') needs a linear model, and {model.name!r} is not "
                "declared linear=True; use method='tsit5' or 'kvaerno5'"
            )
        return replace(self, method=method)
