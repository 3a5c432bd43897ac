"""Figures and a self-contained HTML report of a population fit.

Every function takes plain tables and arrays (the observation table of ``Fit.predict()``,
simulated replicates, an ArviZ ``InferenceData``) and returns a matplotlib ``Figure`` built
without pyplot, so a notebook's backend is never touched.
"""

from .gof import gof_figure, population_residual
from .html import Pre, Section, save_figure, write_report
from .individual import individual_figure
from .mcmc import trace_rank_figure
from .vpc import censored_quantiles, vpc_figure, vpc_stats

__all__ = [
    "Pre", "Section", "censored_quantiles", "gof_figure", "individual_figure",
    "population_residual", "save_figure", "trace_rank_figure", "vpc_figure", "vpc_stats",
    "write_report",
]
