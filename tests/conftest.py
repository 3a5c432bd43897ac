import io
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)


def _no_persistent_cache():
    """The suite compiles without JAX's persistent cache, also in the CLI and notebooks it
    runs (they inherit the setting): on a clean clone there is little to reuse, and writing
    the cache made a test file ~15% slower (RESULTS.md). Set CELLPKPD_CACHE_DIR to a
    directory to try it anyway."""
    import os

    os.environ.setdefault("CELLPKPD_CACHE_DIR", "off")


_no_persistent_cache()

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


def table(text: str) -> io.StringIO:
    """A NONMEM table written inline in a test."""
    return io.StringIO("\n".join(line.strip() for line in text.strip().splitlines()))
