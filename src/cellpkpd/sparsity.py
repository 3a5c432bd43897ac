"""Structural sparsity of a model's Jacobian, and sparse linear algebra planned from it.

Why: an implicit step of a stiff model needs the Jacobian ``J = df/dy``, the LU factors of
``W = I / (h gamma) - J`` and several solves with them. For ``msc_ifna`` (26 states) ``J`` has
68 structural non-zeros out of 676, and dense batched LAPACK calls spent most of a step's time
on zeros. Here the pattern is read once from the right-hand side's jaxpr (which entries can
depend on which state, a conservative superset), and then

- ``J`` is assembled from one forward-mode product per *colour*: columns that share no row are
  probed together (Curtis, Powell & Reid 1974);
- ``W`` is factorised without pivoting in a fixed elimination order chosen to keep fill-in
  small, as the sparse Rosenbrock codes of atmospheric chemistry do (KPP; Sandu et al. 1997).
  ``W`` has ``1 / (h gamma)`` added to its diagonal, so a small step always makes it
  diagonally dominant; a vanishing pivot gives a non-finite step, which the step-size
  controller rejects and retries with a smaller step.

Everything is unrolled at trace time into scalar operations on the batch, which XLA fuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

_ELEMENTWISE = frozenset("""
    abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp convert_element_type
    copy copy_p cos cosh digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt igamma
    integer_pow is_finite le lgamma log log1p logistic lt max min mul ne neg nextafter not or
    pow reduce_precision rem round rsqrt select_n sign sin sinh sqrt square stop_gradient sub
    tan tanh xor
""".split())
_CALLS = frozenset({"jit", "pjit", "closed_call", "core_call", "remat", "checkpoint",
                    "custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr"})


def _inner_jaxpr(eqn):
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        if key in eqn.params:
            inner = eqn.params[key]
            return getattr(inner, "jaxpr", inner)
    return None


def _propagate(jaxpr, in_deps, n):
    """Per element of every output, the set of inputs it may depend on (boolean, last axis)."""
    env = {}

    def read(v):
        if hasattr(v, "val"):  # a literal
            return np.zeros(np.shape(v.val) + (n,), bool)
        return env[v]

    for v in jaxpr.constvars:
        env[v] = np.zeros(tuple(v.aval.shape) + (n,), bool)
    for v, d in zip(jaxpr.invars, in_deps, strict=True):
        env[v] = d
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        shapes = [tuple(v.aval.shape) for v in eqn.outvars]
        name = eqn.primitive.name
        params = eqn.params
        inner = _inner_jaxpr(eqn) if name in _CALLS else None
        if name in _ELEMENTWISE:
            out = np.zeros(shapes[0] + (n,), bool)
            for d in ins:
                out = out | np.broadcast_to(d, shapes[0] + (n,))
            outs = [out]
        elif name == "slice":
            strides = params["strides"] or (1,) * len(params["start_indices"])
            index = tuple(slice(a, b, s) for a, b, s in zip(
                params["start_indices"], params["limit_indices"], strides, strict=True))
            outs = [ins[0][index]]
        elif name == "squeeze":
            outs = [np.squeeze(ins[0], axis=tuple(params["dimensions"]))]
        elif name == "reshape" and params.get("dimensions") is None:
            outs = [ins[0].reshape(shapes[0] + (n,))]
        elif name == "broadcast_in_dim":
            d = ins[0]
            expanded = np.zeros(shapes[0] + (n,), bool)
            view_shape = [1] * len(shapes[0])
            for src, dst in enumerate(params["broadcast_dimensions"]):
                view_shape[dst] = d.shape[src]
            outs = [expanded | d.reshape(tuple(view_shape) + (n,))]
        elif name == "concatenate":
            outs = [np.concatenate(ins, axis=params["dimension"])]
        elif name == "stack":
            outs = [np.stack(ins, axis=params["axis"])]
        elif inner is not None and len(inner.invars) == len(ins):
            outs = _propagate(inner, ins, n)
        else:
            # Unknown primitive: every output element may depend on every input element.
            every = np.zeros(n, bool)
            for d in ins:
                every = every | d.reshape(-1, n).any(axis=0)
            outs = [np.broadcast_to(every, s + (n,)).copy() for s in shapes]
        for v, d in zip(eqn.outvars, outs, strict=True):
            env[v] = d
    return [read(v) for v in jaxpr.outvars]


def jacobian_pattern(rhs, n: int, *args) -> np.ndarray:
    """Structural non-zeros of ``d rhs(y, *args) / dy`` as an ``(m, n)`` boolean array (``m``
    outputs of ``rhs``; ``(n, n)`` for a vector field).

    ``args`` are example values (only their shapes and dtypes matter). The pattern is a
    superset: an entry is False only if no path in the computation leads from that state to
    that derivative.
    """
    closed = jax.make_jaxpr(rhs)(jnp.zeros(n), *args)
    jaxpr = closed.jaxpr
    in_deps = [np.eye(n, dtype=bool)]
    in_deps += [np.zeros(tuple(v.aval.shape) + (n,), bool) for v in jaxpr.invars[1:]]
    (out,) = _propagate(jaxpr, in_deps, n)
    return np.asarray(out).reshape(-1, n)


def column_colours(pattern: np.ndarray) -> np.ndarray:
    """Greedy colouring: columns of one colour share no non-zero row."""
    n = pattern.shape[1]
    colour = -np.ones(n, int)
    rows_of = [set(np.flatnonzero(pattern[:, j])) for j in range(n)]
    used: list[set] = []
    for j in sorted(range(n), key=lambda j: -len(rows_of[j])):
        for c, rows in enumerate(used):
            if not rows & rows_of[j]:
                colour[j] = c
                rows |= rows_of[j]
                break
        else:
            colour[j] = len(used)
            used.append(set(rows_of[j]))
    return colour


def _fill(pattern: np.ndarray, order) -> np.ndarray:
    """The pattern of L + U after elimination without pivoting in ``order``."""
    a = pattern[np.ix_(order, order)].copy()
    n = a.shape[0]
    for k in range(n):
        rows = np.flatnonzero(a[k + 1:, k]) + k + 1
        cols = np.flatnonzero(a[k, k + 1:]) + k + 1
        a[np.ix_(rows, cols)] = True
    return a


def _minimum_degree(pattern: np.ndarray) -> list[int]:
    sym = pattern | pattern.T
    n = sym.shape[0]
    adj = [set(np.flatnonzero(sym[i])) - {i} for i in range(n)]
    left = set(range(n))
    order = []
    while left:
        k = min(left, key=lambda i: (len(adj[i] & left), i))
        nbrs = adj[k] & left
        for i in nbrs:
            adj[i] |= nbrs - {i}
        order.append(k)
        left.remove(k)
    return order


@dataclass(frozen=True)
class SparsePlan:
    """Everything static about ``W = I / (h gamma) - J`` for one model: the pattern of ``J``,
    its colouring, the elimination order and the filled pattern of the factors."""

    n: int
    order: tuple[int, ...]  # position k of the factors holds state order[k]
    jac_entries: tuple[tuple[int, int], ...]  # (row, column) of J's non-zeros, state indices
    colours: tuple[int, ...]  # per state (column)
    n_colours: int
    factor_entries: tuple[tuple[int, int], ...]  # (row, column) of L + U, factor positions

    @classmethod
    def from_pattern(cls, pattern: np.ndarray) -> SparsePlan:
        pattern = np.asarray(pattern, bool)
        n = pattern.shape[0]
        with_diag = pattern | np.eye(n, dtype=bool)
        candidates = [list(range(n)), _minimum_degree(with_diag)]
        order = min(candidates, key=lambda o: int(_fill(with_diag, o).sum()))
        filled = _fill(with_diag, order)
        colours = column_colours(pattern) if pattern.any() else np.zeros(n, int)
        return cls(
            n=n,
            order=tuple(int(i) for i in order),
            jac_entries=tuple((int(i), int(j)) for i, j in zip(*np.nonzero(pattern), strict=True)),
            colours=tuple(int(c) for c in colours),
            n_colours=int(colours.max()) + 1 if n else 0,
            factor_entries=tuple(
                (int(i), int(j)) for i, j in zip(*np.nonzero(filled), strict=True)),
        )

    @property
    def seeds(self) -> np.ndarray:
        """One tangent per colour: ones at that colour's columns."""
        s = np.zeros((self.n_colours, self.n))
        s[self.colours, np.arange(self.n)] = 1.0
        return s

    def jacobian_values(self, compressed):
        """``J``'s non-zeros (in ``jac_entries`` order) from the per-colour products
        ``compressed[c] = J @ seeds[c]``."""
        rows = np.array([i for i, _ in self.jac_entries], int)
        cols = np.array([self.colours[j] for _, j in self.jac_entries], int)
        return compressed[cols, rows]

    def factor(self, diagonal, jac_values):
        """LU factors (as a dict keyed by factor position) of ``diagonal * I - J``."""
        position = {s: k for k, s in enumerate(self.order)}
        a = {e: None for e in self.factor_entries}
        for k in range(self.n):
            a[(k, k)] = diagonal
        for v, (i, j) in enumerate(self.jac_entries):
            key = (position[i], position[j])
            a[key] = -jac_values[v] if a[key] is None else a[key] - jac_values[v]
        zero = jnp.zeros_like(diagonal)
        a = {k: zero if v is None else v for k, v in a.items()}
        below = [[] for _ in range(self.n)]
        right = [[] for _ in range(self.n)]
        for i, j in self.factor_entries:
            if i > j:
                below[j].append(i)
            elif j > i:
                right[i].append(j)
        for k in range(self.n):
            pivot = a[(k, k)]
            for i in below[k]:
                lik = a[(i, k)] / pivot
                a[(i, k)] = lik
                for j in right[k]:
                    a[(i, j)] = a[(i, j)] - lik * a[(k, j)]
        return a

    def solve(self, lu, b):
        """Solve ``W x = b`` with the factors from `factor`."""
        lower = [[] for _ in range(self.n)]
        upper = [[] for _ in range(self.n)]
        for i, j in self.factor_entries:
            if j < i:
                lower[i].append(j)
            elif j > i:
                upper[i].append(j)
        x = self._permuted(b)
        for i in range(self.n):
            for j in lower[i]:
                x[i] = x[i] - lu[(i, j)] * x[j]
        for i in reversed(range(self.n)):
            for j in upper[i]:
                x[i] = x[i] - lu[(i, j)] * x[j]
            x[i] = x[i] / lu[(i, i)]
        return self._unpermuted(x)

    def _permuted(self, b) -> list:
        """``b`` in the factors' order (position k holds state ``order[k]``)."""
        return [b[s] for s in self.order]

    def _unpermuted(self, x):
        out = [None] * self.n
        for k, s in enumerate(self.order):
            out[s] = x[k]
        return jnp.stack(out)

    def solve_transposed(self, lu, b):
        """Solve ``W^T x = b`` with the factors from `factor` (the adjoint's solve).

        With ``P W P^T = L U``, ``W^T = P^T U^T L^T P``: a forward substitution with ``U^T``
        then a backward one with the unit-diagonal ``L^T``, over the same non-zeros."""
        upper_t = [[] for _ in range(self.n)]  # row i of U^T: U[j, i] for j < i
        lower_t = [[] for _ in range(self.n)]  # row j of L^T: L[i, j] for i > j
        for i, j in self.factor_entries:
            if j > i:
                upper_t[j].append(i)
            elif i > j:
                lower_t[j].append(i)
        x = self._permuted(b)
        for i in range(self.n):
            for j in upper_t[i]:
                x[i] = x[i] - lu[(j, i)] * x[j]
            x[i] = x[i] / lu[(i, i)]
        for j in reversed(range(self.n)):
            for i in lower_t[j]:
                x[j] = x[j] - lu[(i, j)] * x[i]
        return self._unpermuted(x)
