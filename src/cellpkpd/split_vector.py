"""A vector whose differentiated entries are leaves of their own.

Why: a fit differentiates each subject's solve with respect to a few estimated parameters
(7 of ``msc_ifna``'s 86). Writing them into the parameter vector with ``.at[cols].set(x)``
gives the whole vector a dense tangent, all zero but for those slots, and every read of any
slot (rates, dose modifiers, outputs) then carries tangent arithmetic on zeros through every
solver stage: about 44% of a Rodas4 step's cost. Kept apart, a read of a fixed entry is a
constant to JAX, whose symbolic zeros skip that work; only the free entries carry tangents.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.tree_util.register_pytree_node_class
class SplitVector:
    """The 1-D vector ``fixed`` with its entries at ``positions`` (static) replaced by
    ``free``. Indexing by an int reads the right leaf; `dense` builds the whole vector."""

    __slots__ = ("fixed", "free", "positions")

    def __init__(self, fixed, free, positions: tuple[int, ...]):
        self.fixed = fixed
        self.free = free
        self.positions = tuple(positions)

    def tree_flatten(self):
        return (self.fixed, self.free), self.positions

    @classmethod
    def tree_unflatten(cls, positions, leaves):
        return cls(*leaves, positions)

    @property
    def dtype(self):
        return self.fixed.dtype

    @property
    def shape(self):
        return self.fixed.shape

    def __getitem__(self, i):
        if isinstance(i, int):
            if i in self.positions:
                return self.free[self.positions.index(i)]
            return self.fixed[i]
        return self.dense()[i]

    def dense(self):
        return self.fixed.at[jnp.asarray(self.positions, dtype=int)].set(self.free)


def dtype_of(x):
    """The floating dtype of a parameter vector, plain or split."""
    return x.dtype if isinstance(x, SplitVector) else jnp.result_type(x)
