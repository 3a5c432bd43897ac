"""Declaring a model: states, parameters, covariates, outputs, dose modifiers.

A model is an immutable description. Its vector field is a pure JAX function that reads states,
parameters and covariates *by name* (``s.central``, ``p.cl``, ``c.WT``) and returns a dict of
derivatives, so model files never do index arithmetic::

    def vector_field(t, s, p, c):
        return {"central": -p.cl / p.v * s.central}

Infusions are not part of the vector field: the event engine adds their rate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ModelError
from .split_vector import dtype_of

VALID_TAGS = ("", "lit", "der", "asm")
ODE_METHODS = ("tsit5", "kvaerno3", "kvaerno4", "kvaerno5", "rodas4")


@dataclass(frozen=True)
class State:
    """A state (compartment) of the model: its name, unit and meaning."""

    name: str
    unit: str
    description: str = ""


@dataclass(frozen=True)
class Param:
    """A model parameter.

    Parameters
    ----------
    name : str
        Lower-case snake_case name used in the vector field (``p.name``).
    value : float
        Default value, in ``unit``.
    unit : str
        Unit, e.g. ``"L/h"``.
    description : str
        What it means.
    positive : bool
        Value must be strictly positive (the default for rate constants, volumes...).
    bounds : (lower, upper), optional
        Inclusive bounds; ``None`` on either side means unbounded. ``(0, 1)`` declares a
        fraction.
    source, tag : str
        Literature source and provenance tag (``"lit"``, ``"der"`` or ``"asm"``).
    """

    name: str
    value: float
    unit: str
    description: str = ""
    positive: bool = True
    bounds: tuple[float | None, float | None] | None = None
    source: str = ""
    tag: str = ""

    def check(self, value: float) -> str | None:
        """Return why ``value`` is not allowed, or ``None`` if it is."""
        if not math.isfinite(value):
            return "is not finite"
        if self.positive and value <= 0:
            return "must be > 0 (declared positive)"
        if self.bounds is not None:
            lo, hi = self.bounds
            if lo is not None and value < lo:
                return f"is below its lower bound {lo}"
            if hi is not None and value > hi:
                return f"is above its upper bound {hi}"
        return None


@dataclass(frozen=True)
class Covariate:
    """A covariate the model reads (``c.NAME``).

    Taken from the dataset column of the same name. When the dataset has no such column it is
    ``derive(columns)`` if given (``columns`` maps the covariates declared before it to NumPy
    arrays, e.g. BSA from WT and HT), else ``default``. A ``default`` of NaN means "absent":
    the model then falls back to a parameter (see `covariate_or`).
    """

    name: str
    default: float
    unit: str = ""
    description: str = ""
    derive: Callable | None = None


def covariate_or(value, fallback):
    """``value`` unless it is NaN (an absent optional covariate), else ``fallback``."""
    return jnp.where(jnp.isnan(value), fallback, value)


@dataclass(frozen=True)
class ResidualError:
    """The default residual error model of an output: ``kind`` is ``"additive"``,
    ``"proportional"``, ``"combined"`` or ``"lognormal"``; ``add`` is in the output's unit,
    ``prop`` is a fraction, ``sigma`` is the SD of log(observation)."""

    kind: str
    add: float | None = None
    prop: float | None = None
    sigma: float | None = None

    def __post_init__(self):
        needs = {"additive": ("add",), "proportional": ("prop",), "combined": ("add", "prop"),
                 "lognormal": ("sigma",)}
        if self.kind not in needs:
            raise ModelError(f"residual error kind {self.kind!r} is not one of {sorted(needs)}")
        for name in needs[self.kind]:
            value = getattr(self, name)
            if value is None or not value > 0:
                raise ModelError(f"{self.kind} residual error needs {name} > 0, got {value!r}")

    def sd(self, f):
        """SD of the observation at prediction ``f`` (of log(observation) for log-normal), as
        the fitting likelihood uses it."""
        f = np.asarray(f, dtype=float)
        if self.kind == "additive":
            return np.full_like(f, self.add)
        if self.kind == "proportional":
            return self.prop * np.abs(f)
        if self.kind == "combined":
            return np.hypot(self.add, self.prop * f)
        return np.full_like(f, self.sigma)

    def sample(self, f, rng: np.random.Generator):
        """Observations around predictions ``f`` (log-normal: ``f·exp(σ·ε)``)."""
        f = np.asarray(f, dtype=float)
        eps = rng.standard_normal(f.shape)
        if self.kind == "lognormal":
            return f * np.exp(self.sigma * eps)
        return f + self.sd(f) * eps

    def __str__(self) -> str:
        if self.kind == "lognormal":
            return f"log-normal σ={self.sigma:g}"
        if self.kind == "additive":
            return f"additive {self.add:g}"
        if self.kind == "proportional":
            return f"proportional {self.prop:g}"
        return f"combined {self.add:g} + {self.prop:g}·f"


@dataclass(frozen=True)
class Switch:
    """A flag the model reads as ``c.NAME``, set by doses rather than by data.

    With ``delay=None`` the flag turns 1 at the start of the first dose into any of
    ``compartments`` and stays 1 (e.g. "treatment has started"). With ``delay(p, c)`` it turns 0
    at the start of each such dose and 1 once ``delay`` has passed since it (unless another dose
    into those compartments starts first), e.g. the end of an expansion phase. The switching
    time is an event of the solver, so the solution is exact across it and differentiable in
    the delay. Resets (EVID 3/4) clear it; inside steady-state computations it reads 0.
    """

    name: str
    compartments: tuple[str, ...]
    delay: Callable | None = None
    description: str = ""


@dataclass(frozen=True)
class Output:
    """An observable: ``fn(t, s, p, c)`` returns its value in ``unit``.

    ``lloq`` is the typical lower limit of quantification (metadata, in ``unit``); ``error``
    is the default residual error model.
    """

    name: str
    unit: str
    fn: Callable
    description: str = ""
    lloq: float | None = None
    error: ResidualError | None = None


class Named:
    """Read-only access by name to the entries of a JAX vector (``x.name`` or ``x["name"]``)."""

    __slots__ = ("_index", "_values", "_kind")

    def __init__(self, index: Mapping[str, int], values, kind: str):
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_kind", kind)

    def __getattr__(self, name: str):
        index = object.__getattribute__(self, "_index")
        try:
            return object.__getattribute__(self, "_values")[index[name]]
        except KeyError:
            kind = object.__getattribute__(self, "_kind")
            raise AttributeError(
                f"the model has no {kind} {name!r}; declared {kind}s: {sorted(index)}"
            ) from None

    __getitem__ = __getattr__

    def __setattr__(self, name, value):
        raise AttributeError("model values are read-only inside the vector field")


ModifierFn = Callable[[Named, Named], object]


def _names(items, what: str) -> tuple[str, ...]:
    names = tuple(item.name for item in items)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ModelError(f"duplicate {what} names {dupes}; each {what} needs a unique name")
    return names


@dataclass(frozen=True, eq=False)
class Model:
    """An immutable model declaration.

    Parameters
    ----------
    name : str
        Model name (``load_model`` finds bundled models by it).
    time_unit : str
        The unit of TIME in datasets and of every rate constant, e.g. ``"h"`` or ``"day"``.
    states : sequence of State
        Compartments, in order; NONMEM's CMT numbers count from 1 in this order.
    params : sequence of Param
    vector_field : callable ``(t, s, p, c) -> dict[state name, derivative]``
        Pure JAX. Must return a derivative for every state.
    outputs : sequence of Output
    covariates : sequence of Covariate
    initial : callable ``(p, c) -> dict``, optional
        Initial amounts; states not returned start at 0. Also the state after a reset (EVID 3/4).
    bioavailability, lag_time, infusion_rate, infusion_duration : dict[state name, callable]
        NONMEM's F, ALAG, R and D per compartment, each ``(p, c) -> value``. F defaults to 1
        and ALAG to 0. R (D) is required for doses with RATE = -1 (-2) into that compartment.
    linear : bool
        Declare the vector field affine in the states and independent of time. Enables the
        exact matrix-exponential solver; checked numerically when the model is built.
    default_solver : str
        ``"tsit5"`` (explicit) or ``"kvaerno3"``/``"kvaerno4"``/``"kvaerno5"``/``"rodas4"``
        (stiff); linear models default to the closed form.
    switches : sequence of Switch
        Dose-driven flags (phase changes) the vector field reads as ``c.NAME``.
    description, references, assumptions
        What the model is, the papers it comes from, and its modelling assumptions.
    """

    name: str
    time_unit: str
    states: Sequence[State]
    params: Sequence[Param]
    vector_field: Callable
    outputs: Sequence[Output]
    covariates: Sequence[Covariate] = ()
    initial: Callable | None = None
    bioavailability: Mapping[str, ModifierFn] = field(default_factory=dict)
    lag_time: Mapping[str, ModifierFn] = field(default_factory=dict)
    infusion_rate: Mapping[str, ModifierFn] = field(default_factory=dict)
    infusion_duration: Mapping[str, ModifierFn] = field(default_factory=dict)
    linear: bool = False
    default_solver: str = "tsit5"
    description: str = ""
    references: Sequence[str] = ()
    switches: Sequence[Switch] = ()
    assumptions: Sequence[str] = ()

    def __post_init__(self):
        for attr in ("states", "params", "outputs", "covariates", "references", "switches",
                     "assumptions"):
            object.__setattr__(self, attr, tuple(getattr(self, attr)))
        for attr in ("bioavailability", "lag_time", "infusion_rate", "infusion_duration"):
            object.__setattr__(self, attr, dict(getattr(self, attr)))
        if not self.states:
            raise ModelError(f"model {self.name!r} declares no states")
        self.state_names  # noqa: B018 - property raises on duplicates
        self.param_names  # noqa: B018
        self.covariate_names  # noqa: B018
        self.output_names  # noqa: B018
        clash = sorted(set(self.switch_names) & set(self.covariate_names))
        if clash or len(set(self.switch_names)) != len(self.switch_names):
            raise ModelError(f"model {self.name!r}: switch names must be unique and differ "
                             f"from covariate names; clashing: {clash or self.switch_names}")
        for sw in self.switches:
            unknown = sorted(set(sw.compartments) - set(self.state_names))
            if unknown or not sw.compartments:
                raise ModelError(f"model {self.name!r}: switch {sw.name!r} names unknown "
                                 f"compartments {unknown}; compartments are "
                                 f"{list(self.state_names)}")
        for p in self.params:
            if p.tag not in VALID_TAGS:
                raise ModelError(f"parameter {p.name!r}: tag {p.tag!r} is not one of {VALID_TAGS}")
            why = p.check(float(p.value))
            if why:
                raise ModelError(f"parameter {p.name!r}: default {p.value} {why}")
        for what in ("bioavailability", "lag_time", "infusion_rate", "infusion_duration"):
            unknown = sorted(set(getattr(self, what)) - set(self.state_names))
            if unknown:
                raise ModelError(
                    f"model {self.name!r}: {what} given for unknown compartment(s) {unknown}; "
                    f"compartments are {list(self.state_names)}"
                )
        if self.default_solver not in ODE_METHODS:
            raise ModelError(
                f"model {self.name!r}: default_solver {self.default_solver!r} is not one of "
                f"{ODE_METHODS}"
            )
        self._check_callables()

    # -- names -----------------------------------------------------------------------------
    @property
    def state_names(self) -> tuple[str, ...]:
        return _names(self.states, "state")

    @property
    def param_names(self) -> tuple[str, ...]:
        return _names(self.params, "parameter")

    @property
    def covariate_names(self) -> tuple[str, ...]:
        return _names(self.covariates, "covariate")

    @property
    def output_names(self) -> tuple[str, ...]:
        return _names(self.outputs, "output")

    @property
    def switch_names(self) -> tuple[str, ...]:
        return tuple(sw.name for sw in self.switches)

    @property
    def n_states(self) -> int:
        return len(self.states)

    def state_index(self, name: str) -> int:
        return self.state_names.index(name)

    def default_params(self) -> dict[str, float]:
        """The default value of every parameter."""
        return {p.name: float(p.value) for p in self.params}

    def default_covariates(self) -> dict[str, float]:
        return {c.name: float(c.default) for c in self.covariates}

    def units(self) -> dict[str, str]:
        """Units of every state, parameter, covariate and output, by name."""
        units = {s.name: s.unit for s in self.states}
        units.update({p.name: p.unit for p in self.params})
        units.update({c.name: c.unit for c in self.covariates})
        units.update({o.name: o.unit for o in self.outputs})
        return units

    def __repr__(self) -> str:
        return (
            f"Model({self.name!r}, time unit {self.time_unit!r}, states={list(self.state_names)}, "
            f"outputs={list(self.output_names)})"
        )

    # -- array-level functions used by the engine --------------------------------------------
    def _named(self, y, p, c):
        n_sw = len(self.switches)
        if n_sw and c.shape[-1] == len(self.covariates):
            c = jnp.concatenate([c, jnp.zeros(c.shape[:-1] + (n_sw,), dtype=c.dtype)], axis=-1)
        return (
            Named(_index(self.state_names), y, "state"),
            Named(_index(self.param_names), p, "parameter"),
            Named(_index(self.covariate_names + self.switch_names), c, "covariate"),
        )

    def switch_delays(self, p, c):
        """The delay of every switch (NaN for those that fire at the dose itself)."""
        _, pn, cn = self._named(None, p, c)
        dtype = dtype_of(p)
        if not self.switches:
            return jnp.zeros((0,), dtype)
        return jnp.stack([
            jnp.asarray(sw.delay(pn, cn), dtype=dtype) if sw.delay is not None
            else jnp.asarray(jnp.nan, dtype=dtype) for sw in self.switches])

    def rhs(self, t, y, p, c, rows: tuple[int, ...] | None = None):
        """d(state)/dt as a vector, without infusions; with ``rows``, only those states'
        entries (``y`` may then be a `SplitVector` of the full state)."""
        s, pn, cn = self._named(y, p, c)
        d = self.vector_field(t, s, pn, cn)
        names = self.state_names if rows is None else [self.state_names[i] for i in rows]
        return jnp.stack([jnp.asarray(d[name], dtype=y.dtype) for name in names])

    def initial_state(self, p, c):
        if self.initial is None:
            return jnp.zeros(self.n_states, dtype=dtype_of(p))
        _, pn, cn = self._named(None, p, c)
        given = self.initial(pn, cn)
        dtype = dtype_of(p)
        values = [jnp.asarray(given.get(name, 0.0), dtype=dtype) for name in self.state_names]
        return jnp.stack(values)

    def output_values(self, t, y, p, c):
        s, pn, cn = self._named(y, p, c)
        return jnp.stack([jnp.asarray(o.fn(t, s, pn, cn), dtype=y.dtype) for o in self.outputs])

    def dose_modifiers(self, p, c):
        """F, ALAG, R and D for every compartment, as four vectors (R and D are NaN where the
        model declares none)."""
        _, pn, cn = self._named(None, p, c)
        dtype = dtype_of(p)

        def vector(table, default):
            return jnp.stack(
                [
                    jnp.asarray(table[name](pn, cn), dtype=dtype)
                    if name in table
                    else jnp.asarray(default, dtype=dtype)
                    for name in self.state_names
                ]
            )

        return (
            vector(self.bioavailability, 1.0),
            vector(self.lag_time, 0.0),
            vector(self.infusion_rate, jnp.nan),
            vector(self.infusion_duration, jnp.nan),
        )

    def linear_system(self, p, c):
        """``(A, b)`` with ``dy/dt = A y + b`` for a model declared linear."""
        zero = jnp.zeros(self.n_states, dtype=dtype_of(p))
        b = self.rhs(0.0, zero, p, c)
        a = jax.jacfwd(lambda y: self.rhs(0.0, y, p, c))(zero)
        return a, b

    # -- validation at construction -----------------------------------------------------------
    def _check_callables(self):
        # Traced, not run: eager JAX dispatch compiles one small program per operation, which
        # made loading the model library cost seconds. Python-level facts (what the vector
        # field returned, which states initial() sets) are recorded during the trace.
        p = jnp.asarray([float(x.value) for x in self.params], dtype=jnp.float64)
        c = jnp.asarray([float(x.default) for x in self.covariates], dtype=jnp.float64)
        y = jnp.ones(self.n_states, dtype=jnp.float64)
        seen = {}

        def field(y, p, c):
            s, pn, cn = self._named(y, p, c)
            d = self.vector_field(0.0, s, pn, cn)
            seen["type"] = type(d).__name__
            seen["keys"] = list(d) if isinstance(d, Mapping) else None
            return jnp.zeros(())

        try:
            jax.eval_shape(field, y, p, c)
        except AttributeError as exc:
            raise ModelError(f"model {self.name!r}: vector field: {exc}") from None
        if seen["keys"] is None:
            raise ModelError(
                f"model {self.name!r}: the vector field must return a dict of derivatives by "
                f"state name, got {seen['type']}"
            )
        missing = [n for n in self.state_names if n not in seen["keys"]]
        extra = sorted(set(seen["keys"]) - set(self.state_names))
        if missing or extra:
            raise ModelError(
                f"model {self.name!r}: the vector field must return exactly one derivative per "
                f"state; missing {missing}, unknown {extra}"
            )
        for label, call in (
            ("initial", self.initial_state),
            ("outputs", lambda p, c: self.output_values(0.0, y, p, c)),
            ("dose modifiers", self.dose_modifiers),
            ("switch delays", self.switch_delays),
        ):
            try:
                jax.eval_shape(call, p, c)
            except AttributeError as exc:
                raise ModelError(f"model {self.name!r}: {label}: {exc}") from None
        if self.initial is not None:
            def given(p, c):
                _, pn, cn = self._named(None, p, c)
                seen["initial"] = list(self.initial(pn, cn))
                return jnp.zeros(())

            jax.eval_shape(given, p, c)
            unknown = sorted(set(seen["initial"]) - set(self.state_names))
            if unknown:
                raise ModelError(f"model {self.name!r}: initial() sets unknown states {unknown}")
        if self.linear:
            self._check_linear(p, c)

    def _check_linear(self, p, c):
        rng = np.random.default_rng(0)
        ys = jnp.asarray(rng.uniform(0.1, 10.0, (3, self.n_states)))
        ts = jnp.asarray(rng.uniform(0.0, 100.0, 3))

        @jax.jit  # one compiled program instead of one per eager operation
        def exact_and_affine(p, c):
            a, b = self.linear_system(p, c)
            exact = jax.vmap(lambda t, y: self.rhs(t, y, p, c))(ts, ys)
            return exact, ys @ a.T + b

        exact, affine = (np.asarray(v) for v in exact_and_affine(p, c))
        for e, f in zip(exact, affine, strict=True):
            if not np.allclose(e, f, rtol=1e-9, atol=1e-12 * (1 + np.abs(e).max())):
                raise ModelError(
                    f"model {self.name!r} is declared linear=True but its vector field is not "
                    "affine in the states and time-invariant; drop linear=True to use the ODE "
                    "solver"
                )


@functools.lru_cache(maxsize=256)
def _index(names: tuple[str, ...]) -> dict[str, int]:
    return {n: i for i, n in enumerate(names)}
