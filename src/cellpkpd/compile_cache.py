"""JAX's persistent compilation cache, shared by the CLI and notebooks.

Why: compiling the stiff solvers and their sensitivities dominates a short fit of a cell
model. With the cache, a second process (a rerun, a notebook after the CLI) loads the
compiled programs from disk instead of compiling them again.

The directory is ``$CELLPKPD_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/cellpkpd/jax``
(``~/.cache/cellpkpd/jax``). ``CELLPKPD_CACHE_DIR=off`` disables it.
"""

from __future__ import annotations

import os
from pathlib import Path

OFF = ("off", "0", "none", "false")


def cache_directory() -> Path | None:
    """Where compiled programs are kept, or None when the cache is switched off."""
    setting = os.environ.get("CELLPKPD_CACHE_DIR", "")
    if setting.strip().lower() in OFF:
        return None
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cellpkpd" / "jax"


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache in ``directory`` (default
    `cache_directory`). Returns the directory used, or None when it is switched off or
    cannot be created (then JAX simply compiles, as without a cache)."""
    import jax

    path = Path(directory).expanduser() if directory is not None else cache_directory()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Keep every program that took a moment to compile, whatever its size.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
