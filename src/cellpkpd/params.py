"""Parameter values: from a user's mapping to a validated (subject x parameter) matrix."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import ParameterError


def parameter_matrix(model, params: Mapping | None, ids: tuple) -> np.ndarray:
    """``params`` maps names to a scalar (every subject) or one value per subject, in the order
    of ``ids``. Unnamed parameters take the model's defaults. Checked before compilation."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(model.param_names))
    if unknown:
        raise ParameterError(
            f"model {model.name!r} has no parameter(s) {unknown}; its parameters are "
            f"{list(model.param_names)}"
        )
    n = len(ids)
    columns = []
    for spec in model.params:
        value = _values(spec, params.get(spec.name, spec.value))
        if value.ndim == 0:
            value = np.full(n, float(value))
        elif value.shape != (n,):
            raise ParameterError(
                f"parameter {spec.name!r} has shape {value.shape}; give a scalar or one value "
                f"per subject ({n} values, in subject order)"
            )
        for subject, v in zip(ids, value, strict=True):
            why = spec.check(float(v))
            if why:
                raise ParameterError(
                    f"parameter {spec.name!r} = {v} for subject {subject} {why}; give a "
                    f"finite value{' > 0' if spec.positive else ''} in {spec.unit}"
                )
        columns.append(value)
    return np.stack(columns, axis=1) if columns else np.zeros((n, 0))


def _values(spec, value) -> np.ndarray:
    """``value`` as real floats. Text, complex numbers and booleans are refused: float()
    would turn True into 1.0 and drop an imaginary part without a word."""
    array = np.asarray(value)
    kind = array.dtype.kind
    fix = f"give a real number in {spec.unit or 'the parameter unit'}, or one per subject"
    if kind == "b":
        raise ParameterError(f"parameter {spec.name!r} = {value!r} is a boolean, not a number; "
                             + fix)
    if kind == "c":
        raise ParameterError(f"parameter {spec.name!r} = {value!r} is complex; " + fix)
    try:
        return np.asarray(array, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(f"parameter {spec.name!r} = {value!r} is not a number; "
                             + fix) from None
