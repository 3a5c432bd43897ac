"""Finding models: bundled ones by name, users' files by path."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from .errors import ModelError
from .model import Model

_PACKAGE = Path(__file__).resolve().parent


def _model_dirs() -> list[Path]:
    # Installed wheel: models ship as cellpkpd/_bundled_models. Editable/source checkout: the
    # repository's top-level models/ folder.
    return [p for p in (_PACKAGE / "_bundled_models", _PACKAGE.parents[1] / "models") if p.is_dir()]


def bundled_models() -> list[str]:
    """Names of the models that ship with cellpkpd."""
    names = set()
    for folder in _model_dirs():
        names.update(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    return sorted(names)


def load_model(name_or_path) -> Model:
    """A bundled model by name (``"pk_1cmt_oral"``), or the ``model`` defined in a ``.py`` file.

    The same file gives the same `Model` object within a session, so compiled solvers are
    reused.
    """
    path = Path(str(name_or_path))
    if path.suffix == ".py" or path.exists():
        if not path.exists():
            raise ModelError(f"model file {path} does not exist")
        return _load_file(path.resolve())
    for folder in _model_dirs():
        candidate = folder / f"{name_or_path}.py"
        if candidate.exists():
            return _load_file(candidate.resolve())
    raise ModelError(
        f"no bundled model named {name_or_path!r}; bundled models are {bundled_models()}, or "
        "pass the path of a model file"
    )


@cache
def _load_file(path: Path) -> Model:
    spec = importlib.util.spec_from_file_location(f"cellpkpd_model_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, "model", None)
    if not isinstance(model, Model):
        raise ModelError(
            f"model file {path} must define a variable `model` holding a cellpkpd.Model"
        )
    return model
