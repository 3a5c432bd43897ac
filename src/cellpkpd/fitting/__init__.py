"""Hierarchical (population) fitting with NumPyro: `fit`, the `Fit` object and `load_fit`."""

from .results import Diagnostics, Fit, load_fit
from .run import fit

__all__ = ["Diagnostics", "Fit", "fit", "load_fit"]
