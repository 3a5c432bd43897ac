import io
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)


def _share_compiled_programs():
    """JAX's persistent compilation cache, in one directory for every xdist worker of a run
    (and for later local runs): most of the suite's time is compiling, and the workers and
    test files compile many of the same programs (the bundled models' solvers)."""
    import os

    from cellpkpd.compile_cache import enable_compilation_cache

    # The CLI under test enables the cache too: point it at the same directory.
    os.environ.setdefault("CELLPKPD_CACHE_DIR", str(Path(__file__).resolve().parents[1]
                                                    / ".pytest_cache" / "cellpkpd-jax"))
    enable_compilation_cache()


_share_compiled_programs()

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


def table(text: str) -> io.StringIO:
    """A NONMEM table written inline in a test."""
    return io.StringIO("\n".join(line.strip() for line in text.strip().splitlines()))
