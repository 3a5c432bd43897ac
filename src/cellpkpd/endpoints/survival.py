"""Kaplan–Meier survival: estimate, Greenwood variance, log-log CIs, median with CI, plot.

* S(t) = Π_{t_i ≤ t} (1 − d_i/n_i) over distinct times t_i (Kaplan & Meier, JASA 1958); a
  subject censored at an event time is at risk at that time (censoring happens just after).
* Greenwood: Var S(t) = S(t)² Σ d_i / (n_i (n_i − d_i)).
* Pointwise CIs use the log-log transform (Kalbfleisch & Prentice 2002): with
  σ² = Σ d_i/(n_i(n_i − d_i)) / (log S)², the band is S^{exp(±z σ)} (same as
  ``scipy.stats.ecdf(...).sf.confidence_interval(method="log-log")``). It is [1, 1] before the
  first event and NaN where S = 0 or where every subject at risk had the event.
* Median: the first time S(t) ≤ 0.5. Its CI (Brookmeyer & Crowley, Biometrics 1982, read off
  the log-log band as R's ``survfit`` does): lower limit = first time the lower CI curve is
  ≤ 0.5, upper limit = first time the upper curve is ≤ 0.5; NaN means "not reached".

Times in days (any unit; outputs share it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from ..errors import DataError, DataProblem, ParameterError
from ._checks import bool_vector, float_vector, same_length


@dataclass(frozen=True)
class KaplanMeier:
    """KM table at each distinct observed time (event or censoring)."""

    table: pd.DataFrame  # time, n_at_risk, n_events, n_censored, survival, std_err, lower, upper
    confidence: float

    def survival_at(self, times) -> pd.DataFrame:
        """S(t) and its CI at ``times`` (right-continuous step function). 1 before the first
        observed time; NaN after the last follow-up unless S already reached 0."""
        x = np.atleast_1d(np.asarray(times, dtype=np.float64))
        tab = self.table
        idx = np.searchsorted(tab["time"].to_numpy(), x, side="right") - 1
        out = {}
        for col in ("survival", "lower", "upper"):
            values = np.concatenate([[1.0], tab[col].to_numpy()])[idx + 1]
            beyond = (x > tab["time"].iloc[-1]) & (tab["survival"].iloc[-1] > 0)
            out[col] = np.where(beyond, np.nan, values)
        return pd.DataFrame({"time": x, **out})

    def median(self) -> tuple[float, float, float]:
        """(median, lower, upper) survival time; NaN = not reached (module docstring)."""
        return tuple(_first_at_or_below(self.table, col, 0.5)
                     for col in ("survival", "lower", "upper"))


def _first_at_or_below(table: pd.DataFrame, column: str, level: float) -> float:
    hits = np.flatnonzero(table[column].to_numpy() <= level)
    return float(table["time"].iloc[hits[0]]) if hits.size else np.nan


def kaplan_meier(times, events, *, confidence: float = 0.95) -> KaplanMeier:
    """Kaplan–Meier estimate with Greenwood SE and log-log pointwise CIs (module docstring).

    ``times`` ≥ 0 (days); ``events`` True for an event, False for right censoring.
    """
    t = float_vector("times", times)
    e = bool_vector("events", events, t.size)
    same_length(("times", "events"), t, e)
    if t.size == 0:
        raise DataError(DataProblem("times is empty", "give at least one subject"))
    if (t < 0).any():
        raise DataError([DataProblem(f"times[{i}] = {t[i]:g} is negative",
                                     "measure times from the time origin (≥ 0)")
                         for i in np.flatnonzero(t < 0)])
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must lie in (0, 1), got {confidence}; e.g. "
                             "confidence=0.95")
    grid, inverse = np.unique(t, return_inverse=True)
    d = np.bincount(inverse, weights=e, minlength=grid.size)
    c = np.bincount(inverse, weights=~e, minlength=grid.size)
    n = t.size - np.concatenate([[0.0], np.cumsum(d + c)[:-1]])
    surv = np.cumprod(1.0 - d / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(d / (n * (n - d)))
        sigma = np.sqrt(greenwood) / np.abs(np.log(surv))
        log_minus_log = np.log(-np.log(surv))
    z = special.ndtri(0.5 + confidence / 2.0)
    lower = np.exp(-np.exp(log_minus_log + z * sigma))
    upper = np.exp(-np.exp(log_minus_log - z * sigma))
    no_event_yet = np.cumsum(d) == 0
    lower, upper = np.where(no_event_yet, 1.0, lower), np.where(no_event_yet, 1.0, upper)
    undefined = (surv == 0) | ~np.isfinite(greenwood)
    lower, upper = np.where(undefined, np.nan, lower), np.where(undefined, np.nan, upper)
    table = pd.DataFrame({
        "time": grid, "n_at_risk": n.astype(int), "n_events": d.astype(int),
        "n_censored": c.astype(int), "survival": surv,
        "std_err": surv * np.sqrt(greenwood), "lower": lower, "upper": upper})
    return KaplanMeier(table, confidence)


def km_plot(ax, km: KaplanMeier, *, label: str | None = None, color=None, ci: bool = True,
            censor_ticks: bool = True):
    """Draw ``km`` on matplotlib ``ax``: post-step curve from S(0) = 1, shaded CI band and
    '|' ticks at censoring times. Returns ``ax``."""
    tab = km.table
    t = np.concatenate([[0.0], tab["time"].to_numpy()])
    s = np.concatenate([[1.0], tab["survival"].to_numpy()])
    (line,) = ax.step(t, s, where="post", label=label, color=color)
    if ci:
        lo = np.concatenate([[1.0], tab["lower"].to_numpy()])
        hi = np.concatenate([[1.0], tab["upper"].to_numpy()])
        ax.fill_between(t, lo, hi, step="post", alpha=0.2, color=line.get_color(),
                        linewidth=0)
    if censor_ticks:
        cens = tab[tab["n_censored"] > 0]
        ax.plot(cens["time"], cens["survival"], linestyle="none", marker="|",
                color=line.get_color(), markersize=8)
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("survival probability")
    return ax
