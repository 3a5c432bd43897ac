import io
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


def table(text: str) -> io.StringIO:
    """A NONMEM table written inline in a test."""
    return io.StringIO("\n".join(line.strip() for line in text.strip().splitlines()))
