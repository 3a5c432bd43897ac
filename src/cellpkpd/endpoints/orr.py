"""Objective response rate with an exact (Clopper–Pearson) binomial confidence interval."""

from __future__ import annotations

from collections.abc import Iterable

from scipy import stats

from ..errors import DataError, DataProblem, ParameterError

RECIST_RESPONDERS = ("CR", "PR", "iCR", "iPR")
IMWG_RESPONDERS = ("sCR", "CR", "VGPR", "PR")


def objective_response_rate(best_responses: Iterable[str], *,
                            responders: Iterable[str] = RECIST_RESPONDERS,
                            confidence: float = 0.95) -> dict[str, float]:
    """ORR = subjects whose best overall response is in ``responders`` / all subjects.

    Every subject counts in the denominator (NE and PD are non-responders). The CI is the
    Clopper–Pearson exact interval (``scipy.stats.binomtest(...).proportion_ci("exact")``).
    Defaults: RECIST 1.1/iRECIST CR+PR; pass ``IMWG_RESPONDERS`` for myeloma (≥ PR, Kumar 2016).
    Returns n, responders, rate, lower, upper.
    """
    labels = list(best_responses)
    bad = [i for i, r in enumerate(labels) if not isinstance(r, str)]
    if bad:
        raise DataError([DataProblem(f"best_responses[{i}] = {labels[i]!r} is not a response "
                                     "label", "use 'NE' for a subject not evaluable")
                         for i in bad])
    if not labels:
        raise DataError(DataProblem("best_responses is empty", "give one label per subject"))
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must lie in (0, 1), got {confidence}; e.g. "
                             "confidence=0.95")
    wanted = set(responders)
    k = sum(r in wanted for r in labels)
    ci = stats.binomtest(k, len(labels)).proportion_ci(confidence_level=confidence,
                                                       method="exact")
    return {"n": len(labels), "responders": k, "rate": k / len(labels),
            "lower": float(ci.low), "upper": float(ci.high)}
