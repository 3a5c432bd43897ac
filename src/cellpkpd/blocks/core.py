"""Blocks: the pieces a mechanistic model is composed of.

A `Block` owns some states, parameters, covariates and outputs, and contributes

- *derived quantities* (``c_ifna``, ``ro``, ``c_pac``...) that other blocks read as ``d.name``;
- *rates*: a dict of derivative contributions by state name. Contributions to the same state
  from several blocks add up, so a block may also drain or feed another block's state (an
  elimination block acting on ``central``, a kill term acting on ``tumor``).

`compose` checks that the pieces fit (every state has one owner, shared parameters and
covariates agree, every derived quantity has one definition, no cycles) and returns a plain
`Model`, so the engine never knows that blocks existed::

    model = compose("pk_1cmt_mm", "h", [linear_pk(1, oral=False), michaelis_menten(...)])

Every block function takes ``(t, s, p, c, d)``: time, states, parameters, covariates (with the
model's switches) and derived quantities, all read by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import ModelError
from ..model import Covariate, Model, Output, Param, State, Switch

BlockFn = Callable  # (t, s, p, c, d) -> value


@dataclass(frozen=True)
class Block:
    """One piece of a model. See the module docstring.

    ``outputs`` hold `Output` objects whose ``fn`` takes ``(t, s, p, c, d)``.
    ``initial(p, c, d)`` returns initial amounts of (some of) the block's states; derived
    quantities that read states are not available there.
    """

    name: str
    states: Sequence[State] = ()
    params: Sequence[Param] = ()
    covariates: Sequence[Covariate] = ()
    derived: Mapping[str, BlockFn] = field(default_factory=dict)
    rates: BlockFn | None = None
    outputs: Sequence[Output] = ()
    initial: Callable | None = None
    bioavailability: Mapping[str, Callable] = field(default_factory=dict)
    lag_time: Mapping[str, Callable] = field(default_factory=dict)
    infusion_rate: Mapping[str, Callable] = field(default_factory=dict)
    infusion_duration: Mapping[str, Callable] = field(default_factory=dict)
    switches: Sequence[Switch] = ()
    assumptions: Sequence[str] = ()
    references: Sequence[str] = ()


class _NoStates:
    """Stands in for the states where none exist yet (initial conditions, dose modifiers)."""

    def __getattr__(self, name):
        raise AttributeError(
            f"state {name!r} is not available here: initial conditions and dose modifiers may "
            "read parameters, covariates and derived quantities that do not depend on states"
        )

    __getitem__ = __getattr__


class Derived:
    """Lazily evaluated derived quantities, each computed once per evaluation of the model."""

    def __init__(self, fns: Mapping[str, BlockFn], t, s, p, c):
        self._fns, self._args = fns, (t, s, p, c)
        self._values: dict = {}
        self._busy: list[str] = []

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._values
        if name in values:
            return values[name]
        if name not in self._fns:
            raise AttributeError(
                f"no derived quantity {name!r}; defined: {sorted(self._fns)}"
            )
        if name in self._busy:
            cycle = " -> ".join(self._busy[self._busy.index(name):] + [name])
            raise ModelError(f"derived quantities depend on each other in a cycle: {cycle}")
        self._busy.append(name)
        try:
            values[name] = self._fns[name](*self._args, self)
        finally:
            self._busy.pop()
        return values[name]

    __getitem__ = __getattr__


def _merge(items, what: str, key=lambda x: x.name) -> tuple:
    """Concatenate declarations, keeping one copy of identical duplicates and rejecting
    conflicting ones."""
    seen: dict[str, object] = {}
    for block, item in items:
        name = key(item)
        if name in seen and seen[name][1] != item:
            raise ModelError(
                f"{what} {name!r} is declared differently by blocks {seen[name][0]!r} and "
                f"{block!r}: {seen[name][1]} vs {item}"
            )
        seen.setdefault(name, (block, item))
    return tuple(item for _, item in seen.values())


def _merge_maps(blocks, attr: str) -> dict:
    out: dict = {}
    for b in blocks:
        for name, fn in getattr(b, attr).items():
            if name in out:
                raise ModelError(f"{attr} of {name!r} is declared by two blocks")
            out[name] = fn
    return out


def compose(name: str, time_unit: str, blocks: Sequence[Block], *,
            outputs: Sequence[Output] = (), description: str = "",
            references: Sequence[str] = (), assumptions: Sequence[str] = (),
            default_solver: str = "tsit5", linear: bool = False) -> Model:
    """Build a `Model` from blocks.

    Parameters
    ----------
    name, time_unit : str
        The model's name and the unit of time of every rate in it.
    blocks : sequence of Block
    outputs : sequence of Output
        Extra outputs (``fn(t, s, p, c, d)``) on top of the blocks' own.
    description, references, assumptions
        Documentation; the blocks' own references and assumptions are appended.
    default_solver, linear
        As for `Model`.
    """
    blocks = tuple(blocks)
    names = [b.name for b in blocks]
    if len(set(names)) != len(names):
        raise ModelError(f"block names must be unique, got {names}")
    states = _merge([(b.name, x) for b in blocks for x in b.states], "state")
    owners: dict[str, str] = {}
    for b in blocks:
        for st in b.states:
            if st.name in owners:
                raise ModelError(
                    f"state {st.name!r} is declared by blocks {owners[st.name]!r} and {b.name!r}")
            owners[st.name] = b.name
    params = _merge([(b.name, x) for b in blocks for x in b.params], "parameter")
    covariates = _merge([(b.name, x) for b in blocks for x in b.covariates], "covariate")
    switches = _merge([(b.name, x) for b in blocks for x in b.switches], "switch")
    derived = _merge_maps(blocks, "derived")
    rate_fns = [b for b in blocks if b.rates is not None]
    initial_fns = [b.initial for b in blocks if b.initial is not None]
    all_outputs = tuple(o for b in blocks for o in b.outputs) + tuple(outputs)
    state_names = {st.name for st in states}

    def vector_field(t, s, p, c):
        d = Derived(derived, t, s, p, c)
        total: dict = {}
        for b in rate_fns:
            for state, rate in b.rates(t, s, p, c, d).items():
                if state not in state_names:
                    raise ModelError(f"block {b.name!r} gives a rate for unknown state {state!r}")
                total[state] = total[state] + rate if state in total else rate
        return {st: total.get(st, 0.0) for st in state_names}

    def initial(p, c):
        d = Derived(derived, None, _NoStates(), p, c)
        values: dict = {}
        for fn in initial_fns:
            values.update(fn(p, c, d))
        return values

    def wrap_output(o: Output) -> Output:
        fn = o.fn
        def value(t, s, p, c):
            return fn(t, s, p, c, Derived(derived, t, s, p, c))

        return Output(o.name, o.unit, value, o.description, o.lloq, o.error)

    def wrap_modifier(fn):
        return lambda p, c: fn(p, c, Derived(derived, None, _NoStates(), p, c))

    modifiers = {
        attr: {k: wrap_modifier(fn) for k, fn in _merge_maps(blocks, attr).items()}
        for attr in ("bioavailability", "lag_time", "infusion_rate", "infusion_duration")
    }
    return Model(
        name=name, time_unit=time_unit, states=states, params=params,
        vector_field=vector_field, outputs=tuple(wrap_output(o) for o in all_outputs),
        covariates=covariates, initial=initial if initial_fns else None,
        switches=switches, linear=linear, default_solver=default_solver,
        description=description,
        references=_unique(tuple(references) + tuple(r for b in blocks for r in b.references)),
        assumptions=_unique(tuple(assumptions) + tuple(a for b in blocks for a in b.assumptions)),
        **modifiers,
    )


def _unique(items: tuple) -> tuple:
    return tuple(dict.fromkeys(items))
