"""cellpkpd: mechanistic PK/PD modelling of cell therapies."""

import jax as _jax

# float64 everywhere: PK amounts span many orders of magnitude and gradients feed samplers.
_jax.config.update("jax_enable_x64", True)

from . import dose_selection, regimens, trial_simulation  # noqa: E402
from .compile_cache import enable_compilation_cache  # noqa: E402
from .dataset import Dataset  # noqa: E402
from .describe import describe  # noqa: E402
from .dose_selection import DoseSelection, Event, Limit, Target, select_dose  # noqa: E402
from .errors import (  # noqa: E402
    CellpkpdError,
    DataError,
    DataProblem,
    ModelError,
    ParameterError,
    SolverError,
)
from .fitting import Fit, fit, load_fit  # noqa: E402
from .loading import bundled_models, load_model  # noqa: E402
from .model import (  # noqa: E402
    Covariate,
    Model,
    Output,
    Param,
    ResidualError,
    State,
    Switch,
)  # fmt: skip
from .nonmem import read_nonmem  # noqa: E402
from .regimens import Dose, Regimen, bsa, population_table, regimen  # noqa: E402
from .simulation import Problem, predict_rows, problem, simulate  # noqa: E402
from .solver import Solver  # noqa: E402
from .virtual_population import simulate_population  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "CellpkpdError", "Covariate", "DoseSelection", "Event", "Limit", "Target", "select_dose",
    "enable_compilation_cache",
    "dose_selection", "trial_simulation", "DataError", "DataProblem", "Dataset", "Dose", "Fit",
    "Model",
    "ModelError", "Output", "Param", "ParameterError", "Problem", "Regimen", "ResidualError",
    "Solver", "SolverError", "State", "Switch", "bsa", "bundled_models", "describe", "fit",
    "load_fit", "load_model", "population_table", "predict_rows", "problem", "read_nonmem",
    "regimen", "regimens", "simulate", "simulate_population",
]  # fmt: skip
