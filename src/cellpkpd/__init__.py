"""cellpkpd: mechanistic PK/PD modelling of cell therapies.

The public names below are imported on first use (PEP 562), so that ``cellpkpd --help``,
``cellpkpd models`` and ``check-data`` start without loading the solvers, the samplers and
the trial simulators they do not need.
"""

import importlib as _importlib
import os as _os
import sys as _sys

# float64 everywhere: PK amounts span many orders of magnitude and gradients feed samplers.
# JAX reads JAX_ENABLE_X64 when it is first imported; if it already is, set it directly.
if "jax" in _sys.modules:
    _sys.modules["jax"].config.update("jax_enable_x64", True)
else:
    _os.environ["JAX_ENABLE_X64"] = "1"

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "enable_compilation_cache": "compile_cache",
    "Dataset": "dataset",
    "describe": "model_description",
    "DoseSelection": "dose_selection", "Event": "dose_selection", "Limit": "dose_selection",
    "Target": "dose_selection", "select_dose": "dose_selection",
    "CellpkpdError": "errors", "DataError": "errors", "DataProblem": "errors",
    "ModelError": "errors", "ParameterError": "errors", "SolverError": "errors",
    "Fit": "fitting", "fit": "fitting", "load_fit": "fitting",
    "bundled_models": "loading", "load_model": "loading",
    "Covariate": "model", "Model": "model", "Output": "model", "Param": "model",
    "ResidualError": "model", "State": "model", "Switch": "model",
    "read_nonmem": "nonmem",
    "Dose": "regimens", "Regimen": "regimens", "bsa": "regimens",
    "population_table": "regimens", "regimen": "regimens",
    "Problem": "simulation", "predict_rows": "simulation", "problem": "simulation",
    "simulate": "simulation",
    "Solver": "solver",
    "simulate_population": "virtual_population",
}  # fmt: skip
_SUBMODULES = ("dose_selection", "regimens", "trial_simulation")

__all__ = sorted([*_EXPORTS, *_SUBMODULES])


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'cellpkpd' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted({*globals(), *__all__})
