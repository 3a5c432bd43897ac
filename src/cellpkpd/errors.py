"""Every error cellpkpd raises on purpose. Each message says what was wrong, what was
received, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


class CellpkpdError(Exception):
    """Base class of cellpkpd's own errors."""


class ModelError(CellpkpdError, ValueError):
    """A model declaration is inconsistent (unknown state, missing derivative, ...)."""


class ParameterError(CellpkpdError, ValueError):
    """A parameter value is unknown to the model, non-finite or outside its bounds."""


class ArgumentTypeError(ParameterError, TypeError):
    """An argument of the wrong kind (a dict where a Regimen is needed, ...); also a
    TypeError, so code that caught the built-in keeps working."""


class UnitError(ParameterError):
    """A unit that cannot be read, or whose dimension does not fit where it is used (a cell
    count dosed into a compartment declared in mg, ``"cels/kg"``, ``"furlongs"``).

    ``problem`` and ``fix`` are the two halves of the message, for callers that report it
    as a `DataProblem`.
    """

    def __init__(self, problem: str, fix: str = ""):
        self.problem, self.fix = problem, fix
        super().__init__(f"{problem}; {fix}" if fix else problem)


class OutputError(CellpkpdError, OSError):
    """A result could not be written (disk full, permissions); earlier outputs are intact."""


class SolverError(CellpkpdError, RuntimeError):
    """The ODE solve (or a steady-state iteration) failed for one or more subjects."""


@dataclass(frozen=True)
class DataProblem:
    """One problem in a dataset.

    ``row`` is the 1-based data row (header excluded) or ``None`` for a table-level problem.
    """

    message: str
    fix: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        prefix = f"{', '.join(where)}: " if where else ""
        return f"{prefix}{self.message}. Fix: {self.fix}"


class DataError(CellpkpdError, ValueError):
    """A dataset problem. Holds *every* problem found, not just the first."""

    def __init__(self, problems: list[DataProblem] | DataProblem, source: str | None = None):
        if isinstance(problems, DataProblem):
            problems = [problems]
        self.problems = list(problems)
        self.source = source
        head = f"{len(self.problems)} problem(s) in dataset"
        if source:
            head += f" {source}"
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = f"\n  ... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(f"{head}:\n{shown}{more}")

    @property
    def rows(self) -> list[int]:
        return sorted({p.row for p in self.problems if p.row is not None})
