"""Input checks and small helpers shared by the report figures."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import ArgumentTypeError, ParameterError


def require_columns(frame, columns: Iterable[str], name: str) -> None:
    """Raise `ParameterError` naming ``name`` and every missing column."""
    if not isinstance(frame, pd.DataFrame):
        raise ArgumentTypeError(f"{name} must be a pandas DataFrame, got "
                                f"{type(frame).__name__}; pass the table cellpkpd gave "
                                "(e.g. a fit's predictions), or pandas.DataFrame(...)")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"{name} is missing required column(s) {missing}; "
                             f"it has {list(frame.columns)}; add or rename them")


def as_floats(values, name: str) -> np.ndarray:
    """``values`` as a float array; `ArgumentTypeError` naming ``name`` if it is not numbers."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be numbers, got {type(values).__name__} "
                                f"{_short(values)}; pass an array of floats") from None


def _short(values) -> str:
    text = repr(values)
    return text if len(text) <= 60 else text[:57] + "..."


def output_rows(frame: pd.DataFrame, output: str, name: str) -> pd.DataFrame:
    """The rows of ``frame`` for ``output``; `ParameterError` if there are none."""
    if frame.empty:
        raise ParameterError(f"{name} is empty: nothing to plot; pass a table with rows")
    rows = frame[frame["output"].astype(str) == str(output)]
    if rows.empty:
        present = sorted(map(str, frame["output"].unique()))
        raise ParameterError(f"{name} has no rows for output={output!r}; outputs present: "
                             f"{present}; pass one of them as output=")
    return rows


def blq_mask(frame: pd.DataFrame) -> np.ndarray:
    """True for censored rows (a missing BLQ flag counts as not censored)."""
    return frame["BLQ"].fillna(0).to_numpy(dtype=float) != 0


def axis_label(name: str, unit: str | None) -> str:
    return f"{name} ({unit})" if unit else name


def not_shown(counts: dict[str, int]) -> str:
    """'3 BLQ, 1 ≤ 0 not shown' for the non-zero counts; '' when nothing was left out."""
    parts = [f"{n} {what}" for what, n in counts.items() if n]
    return f"{', '.join(parts)} not shown" if parts else ""
