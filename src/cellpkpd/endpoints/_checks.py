"""Input checks shared by the endpoint rules: every problem is reported, none is dropped."""

from __future__ import annotations

import numpy as np

from ..errors import DataError, DataProblem

# Clinical cut-offs are written in decimal (30 %, 5 mm, 7 days); a float computed from decimal
# inputs can land a hair below the cut-off, so comparisons allow this much slack.
TOLERANCE = 1e-9


def float_vector(name: str, values, *, allow_nan: bool = False, source: str | None = None
                 ) -> np.ndarray:
    """``values`` as a 1-D float64 array; non-finite entries (NaN only if ``allow_nan``) raise."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(DataProblem(f"{name} cannot be read as numbers ({err})",
                                    f"pass a 1-D sequence of numbers as {name}"), source) from err
    if array.ndim != 1:
        raise DataError(DataProblem(f"{name} has shape {array.shape}, not 1-D",
                                    f"pass a 1-D sequence as {name}"), source)
    bad = ~np.isfinite(array) & ~(allow_nan & np.isnan(array))
    if bad.any():
        raise DataError([DataProblem(f"{name}[{i}] = {array[i]!r} is not finite",
                                     f"give a finite value for {name}[{i}]", column=name)
                         for i in np.flatnonzero(bad)], source)
    return array


def bool_vector(name: str, values, length: int, source: str | None = None) -> np.ndarray:
    """``values`` as a boolean array of ``length`` (``None`` -> all False)."""
    if values is None:
        return np.zeros(length, dtype=bool)
    array = np.asarray(values)
    if array.shape != (length,):
        raise DataError(DataProblem(f"{name} has shape {array.shape}, expected ({length},)",
                                    f"give one {name} flag per assessment"), source)
    if array.dtype != bool:
        if not np.isin(array, (0, 1)).all():
            raise DataError(DataProblem(f"{name} holds values other than True/False: "
                                        f"{sorted(set(array.tolist()) - {0, 1})[:5]}",
                                        f"pass booleans as {name}"), source)
        array = array.astype(bool)
    return array


def same_length(names: tuple[str, str], a: np.ndarray, b: np.ndarray, source=None) -> None:
    if a.shape != b.shape:
        raise DataError(DataProblem(f"{names[0]} has {a.size} values but {names[1]} has {b.size}",
                                    f"give one {names[1]} per {names[0]}"), source)


def increasing_times(name: str, times: np.ndarray, source: str | None = None) -> None:
    """Raise unless ``times`` is non-empty and strictly increasing."""
    if times.size == 0:
        raise DataError(DataProblem(f"{name} is empty", f"give at least one {name}"), source)
    steps = np.diff(times)
    if (steps <= 0).any():
        raise DataError([DataProblem(f"{name}[{i + 1}] = {times[i + 1]:g} does not come after "
                                     f"{name}[{i}] = {times[i]:g}",
                                     "sort by time and merge duplicate time points", column=name)
                         for i in np.flatnonzero(steps <= 0)], source)
