"""`simulate`, and the `Problem` it is built on: a model and a dataset translated once, solved
for any parameter matrix by a pure, jittable, differentiable function."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from . import engine
from .dataset import Dataset
from .errors import ArgumentTypeError, DataError, DataProblem, ParameterError, SolverError
from .events import EventTable, build_events, to_model_units
from .model import Model
from .nonmem import read_nonmem
from .params import parameter_matrix
from .solver import Solver


@dataclass(frozen=True, eq=False)
class Problem:
    """A model and a dataset, translated for the engine.

    ``solve(theta)`` takes a ``(n_subjects, n_params)`` array (columns in
    ``model.param_names`` order) and returns ``(outputs, states, status)`` at every record:
    ``outputs`` is ``(S, R, n_outputs)``, ``states`` ``(S, R, n_states)`` and ``status`` an int
    bit mask per subject (0 = success; see ``engine.describe_status``). It is pure JAX, so it
    jits, vmaps and differentiates.
    """

    model: Model
    dataset: Dataset
    solver: Solver
    events: EventTable

    @property
    def ids(self) -> tuple:
        return self.events.ids

    @property
    def compiled(self):
        """The jitted batch solver ``(theta, arrays) -> (outputs, states, status)``."""
        return engine.batch_solver(self.model, self.solver, self.events.n_overlap,
                                   self.events.has_periodic_ss, self.events.has_constant_ss)

    def solve(self, theta):
        arrays = {k: jnp.asarray(v) for k, v in self.events.arrays.items()}
        return self.compiled(jnp.asarray(theta, dtype=jnp.float64), arrays)

    def parameters(self, params: Mapping | None = None) -> np.ndarray:
        """Validated ``(n_subjects, n_params)`` matrix from a name -> value(s) mapping."""
        return parameter_matrix(self.model, params, self.ids)

    def rows(self, outputs) -> np.ndarray:
        """Outputs per row of ``dataset.table`` (``(n_rows, n_outputs)``), from ``solve``."""
        outputs = np.asarray(outputs)
        result = np.full((len(self.dataset.table), outputs.shape[-1]), np.nan)
        s, r = np.nonzero(self.events.record_row >= 0)
        result[self.events.record_row[s, r]] = outputs[s, r]
        return result

    def grid(self, values) -> np.ndarray:
        """Values on the output grid, ``(n_subjects, n_times, ...)``, from ``solve``."""
        values = np.asarray(values)
        g = self.events.record_grid
        out = np.full((g.shape[0], len(self.events.grid), *values.shape[2:]), np.nan)
        s, r = np.nonzero(g >= 0)
        out[s, g[s, r]] = values[s, r]
        return out

    def check(self, status) -> None:
        """Raise `SolverError` naming every subject whose solve failed."""
        status = np.asarray(status)
        failed = np.flatnonzero(status)
        if failed.size:
            lines = [f"subject {self.ids[i]}: {engine.describe_status(int(status[i]))}"
                     for i in failed[:20]]
            more = f"\n  ... and {failed.size - 20} more" if failed.size > 20 else ""
            raise SolverError(
                f"the solve failed for {failed.size} of {len(self.ids)} subject(s) of model "
                f"{self.model.name!r}:\n  " + "\n  ".join(lines) + more
            )


def _as_model(model) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, str):
        from .loading import load_model

        return load_model(model)
    raise ArgumentTypeError(f"model must be a cellpkpd.Model or a model name/path, got "
                            f"{type(model).__name__}; pass e.g. 'pk_1cmt_oral', a .py/.toml "
                            "model path, or cellpkpd.load_model(...)")


def problem(model, data, *, times=None, solver: Solver | None = None,
            covariates: str = "nocb") -> Problem:
    """Translate ``data`` for ``model``; ``times`` adds output times to every subject."""
    model = _as_model(model)
    dataset = to_model_units(model, read_nonmem(data))  # doses in the compartments' units
    solver = (solver or Solver()).resolve(model)
    grid = None if times is None else _check_times(times)
    events = build_events(model, dataset, grid=grid, covariates=covariates,
                          max_ss_overlap=solver.max_ss_overlap)
    return Problem(model=model, dataset=dataset, solver=solver, events=events)


def _check_times(times) -> np.ndarray:
    try:
        grid = np.asarray(times, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"times= must be numbers (output times in the model's time "
                                f"unit), got {times!r}") from None
    if grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ParameterError(f"times= must be a non-empty array of finite times, got {times!r}; "
                             "give the output times in the model's time unit, e.g. "
                             "times=[0, 1, 2]")
    return np.unique(grid)


def simulate(model, data, params: Mapping | None = None, *, times=None,
             solver: Solver | None = None, states: bool = False, covariates: str = "nocb",
             chunk_size: int = 4096) -> xr.Dataset:
    """Simulate every subject of ``data``.

    Parameters
    ----------
    model : Model or str
        A model, or a bundled model's name, or a path to a model file.
    data : Dataset, path, file object or DataFrame
        Dosing (and observation) records in NONMEM format.
    params : mapping, optional
        Parameter name -> scalar (every subject) or array of one value per subject, in subject
        order (``Dataset.subjects``). Missing parameters take the model's defaults.
    times : array, optional
        Output times, in the model's time unit. Default: the sorted union of the times of the
        observation records (EVID 0, with or without a DV). Values at a time shared with a
        dose are taken after the dose.
    solver : Solver, optional
    states : bool
        Also return the state amounts.
    covariates : {"nocb", "locf"}
        How covariates hold between records (NONMEM's default is ``"nocb"``).
    chunk_size : int
        Subjects solved per compiled call; bounds memory for large populations.

    Returns
    -------
    xarray.Dataset
        Dims ``id`` and ``time``; one variable per output with its ``units`` attribute.

    Raises
    ------
    SolverError
        If the solve fails for any subject (the message names them).
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or (
            chunk_size < 1):
        raise ParameterError(f"chunk_size={chunk_size!r} must be a whole number >= 1 (subjects "
                             "per compiled call, e.g. 4096)")
    model = _as_model(model)
    # A simulation table's output rows need no DV.
    dataset = read_nonmem(data, dv_required=False)
    if times is None:
        table = dataset.table
        obs = table.loc[table.EVID == 0, "TIME"].to_numpy()  # observed and planned samples
        if obs.size == 0:
            raise DataError(DataProblem(
                "the dataset has no observation (EVID 0) records to define output times",
                "pass times=[...] to simulate"), dataset.source)
        times = np.unique(obs)
    prob = problem(model, dataset, times=times, solver=solver, covariates=covariates)
    theta = prob.parameters(params)
    outputs, state_values, status = _solve_chunked(prob, theta, chunk_size)
    prob.check(status)
    return _to_xarray(prob, prob.grid(outputs), prob.grid(state_values) if states else None)


def _solve_chunked(prob: Problem, theta: np.ndarray, chunk_size: int):
    n = theta.shape[0]
    if n <= chunk_size:
        return jax.device_get(prob.solve(theta))
    results = []
    arrays = prob.events.arrays
    fn = prob.compiled
    for start in range(0, n, chunk_size):
        index = np.arange(start, start + chunk_size)
        index = np.where(index < n, index, start)  # pad the last chunk: same shape, no recompile
        chunk = {k: jnp.asarray(v[index]) for k, v in arrays.items()}
        out = jax.device_get(fn(jnp.asarray(theta[index]), chunk))
        keep = min(chunk_size, n - start)
        results.append(tuple(x[:keep] for x in out))
    return tuple(np.concatenate(parts) for parts in zip(*results, strict=True))


def _to_xarray(prob: Problem, outputs: np.ndarray, state_values: np.ndarray | None):
    model = prob.model
    coords = {
        "id": ("id", list(prob.ids)),
        "time": ("time", prob.events.grid, {"units": model.time_unit}),
    }
    data_vars = {}
    for k, out in enumerate(model.outputs):
        data_vars[out.name] = (("id", "time"), outputs[:, :, k],
                               {"units": out.unit, "description": out.description,
                                **({"lloq": out.lloq} if out.lloq is not None else {})})
    if state_values is not None:
        for k, st in enumerate(model.states):
            name = st.name if st.name not in data_vars else f"state_{st.name}"
            data_vars[name] = (("id", "time"), state_values[:, :, k],
                               {"units": st.unit, "description": st.description})
    return xr.Dataset(data_vars, coords=coords, attrs={
        "model": model.name, "time_unit": model.time_unit, "solver": prob.solver.method})


def predict_rows(model, data, params: Mapping | None = None, *, solver: Solver | None = None,
                 covariates: str = "nocb") -> pd.DataFrame:
    """Model outputs at every record of ``data``, row for row (like a NONMEM table)."""
    prob = problem(model, data, solver=solver, covariates=covariates)
    outputs, _, status = jax.device_get(prob.solve(prob.parameters(params)))
    prob.check(status)
    values = prob.rows(outputs)
    frame = prob.dataset.table[["ID", "TIME", "EVID", "ROW"]].copy()
    for k, name in enumerate(model.output_names):
        frame[name] = values[:, k]
    return frame
