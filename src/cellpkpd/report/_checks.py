"""Input checks and small helpers shared by the report figures."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def require_columns(frame, columns: Iterable[str], name: str) -> None:
    """Raise ``ValueError`` naming ``name`` and every missing column."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing required column(s) {missing}; "
                         f"it has {list(frame.columns)}")


def output_rows(frame: pd.DataFrame, output: str, name: str) -> pd.DataFrame:
    """The rows of ``frame`` for ``output``; ``ValueError`` if there are none."""
    if frame.empty:
        raise ValueError(f"{name} is empty: nothing to plot")
    rows = frame[frame["output"].astype(str) == str(output)]
    if rows.empty:
        present = sorted(map(str, frame["output"].unique()))
        raise ValueError(f"{name} has no rows for output={output!r}; outputs present: {present}")
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
