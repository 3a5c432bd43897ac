"""The worked analyses in ``notebooks/`` run from top to bottom with small settings, so they
never rot, and they are saved without outputs.

Each notebook is executed by nbclient in a fresh ``python3`` kernel of the interpreter running
the tests, with ``notebooks/`` as its working directory and ``CELLPKPD_NOTEBOOK_SMALL=1``
(the notebooks' first code cell reads it into ``SMALL`` and shrinks every size with it). A
failure names the notebook and the cell, and shows the cell's source and its traceback.

nbclient, nbformat and ipykernel are test dependencies: when they are missing this module fails
to import, loudly, instead of skipping.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

try:
    import nbformat
    from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
except ImportError as err:  # pragma: no cover - the point is the message
    raise ImportError(
        f"tests/test_notebooks.py needs nbclient, nbformat and ipykernel ({err}); install the "
        "test extras: pip install -e '.[test]'"
    ) from err

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# Wall-clock limit for a whole notebook, kernel start included. It only catches a hang: with
# SMALL settings each notebook takes well under a minute on 2 quiet cores.
NOTEBOOK_TIMEOUT_S = 600
SMALL_FLAG = "CELLPKPD_NOTEBOOK_SMALL"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _ids(paths):
    return [p.stem for p in paths]


def test_the_notebooks_are_there():
    names = {p.name for p in NOTEBOOKS}
    expected = {"01_simulate_msc_ifna_and_carnk.ipynb", "02_fit_msc_ifna_phase1.ipynb",
                "03_theophylline_vs_nlme.ipynb"}
    assert expected <= names, f"missing from {NOTEBOOK_DIR}: {sorted(expected - names)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_saved_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; "
                       "clear all outputs before saving (Jupyter: Edit > Clear Outputs of All "
                       f"Cells; or jupyter nbconvert --clear-output --inplace {path.name})")
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    assert code and SMALL_FLAG in code[0], (
        f"{path.name}: the first code cell must set SMALL = os.environ.get({SMALL_FLAG!r}) "
        "== '1' and every size (subjects, draws, chains, times) must depend on it")


def _python3_kernel() -> AsyncKernelManager:
    """A manager for the ipykernel of *this* interpreter, whatever other ``python3``
    kernelspecs the machine has registered (they may point at another environment)."""
    specs = KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)
    # Async, as nbclient's own default: its per-cell timeouts rely on the async client.
    manager = AsyncKernelManager(kernel_name=NATIVE_KERNEL_NAME, kernel_spec_manager=specs)
    argv = manager.kernel_spec.argv
    assert Path(argv[0]).resolve() == Path(sys.executable).resolve(), argv
    return manager


def _failure(path, index, detail: str) -> str:
    return f"{path.name}, cell {index}, failed.\n{_ANSI.sub('', detail)}"


def _with_source(reason: str, cell) -> str:
    source = cell.source if cell is not None else "(no cell was running)"
    return f"{reason}\n----- cell source -----\n{source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_with_small_settings(path, monkeypatch):
    monkeypatch.setenv(SMALL_FLAG, "1")  # the kernel inherits the environment
    nb = nbformat.read(path, as_version=4)
    deadline = time.monotonic() + NOTEBOOK_TIMEOUT_S
    current = {"index": None, "cell": None}

    def remember(cell, cell_index, **_):
        current.update(index=cell_index, cell=cell)

    client = NotebookClient(
        nb, km=_python3_kernel(), kernel_name=NATIVE_KERNEL_NAME,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        # Each cell gets what is left of the notebook's budget.
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        on_cell_start=remember, allow_errors=False)
    started = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as err:  # its text holds the cell's source, output and traceback
        pytest.fail(_failure(path, current["index"], err.traceback), pytrace=False)
    except CellTimeoutError:
        reason = f"the notebook ran past its limit of {NOTEBOOK_TIMEOUT_S} s"
        pytest.fail(_failure(path, current["index"], _with_source(reason, current["cell"])),
                    pytrace=False)
    except DeadKernelError as err:
        pytest.fail(_failure(path, current["index"],
                             _with_source(f"the kernel died: {err}", current["cell"])),
                    pytrace=False)
    print(f"{path.name}: {time.monotonic() - started:.1f} s")
