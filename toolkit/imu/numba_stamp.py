"""Keep numba's disk cache honest across files.

Numba keys a cached compiled function on the source of the file that defines it, not on the files of the
functions it calls and compiles in. So when ``neuroedge.imu.core``'s cached loop calls the member filter in
``member.py``, an edit to ``member.py`` alone would leave the loop running the old member from the cache,
silently. ``refresh`` closes that gap: called at the end of the caller's module, it hashes the callees'
sources and, when the hash differs from the one it recorded beside the cache last time, empties the cache
index of every cached function in the caller, so they compile afresh on first use.

Where nothing can be written (an installed, read-only package, whose sources never change) it does nothing.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any


def callee_hash(callees: tuple[Path, ...]) -> str:
    """The sha256 of the callees' sources, in order (a file that cannot be read counts as empty)."""
    digest = hashlib.sha256()
    for path in callees:
        try:
            digest.update(path.read_bytes())
        except OSError:
            pass
        digest.update(b"\0")
    return digest.hexdigest()


def _cached(module_globals: dict[str, Any]) -> list[Any]:
    """The module's own ``@njit(cache=True)`` functions (those with a disk cache)."""
    name = module_globals["__name__"]
    return [v for v in module_globals.values()
            if getattr(getattr(v, "py_func", None), "__module__", None) == name
            and hasattr(getattr(v, "_cache", None), "cache_path")]


def refresh(module_globals: dict[str, Any], callees: tuple[str, ...]) -> bool:
    """Empty the disk cache of the module's compiled functions if its ``callees`` (files beside it) changed since
    the last call; True if it did. Call it after the module's last ``@njit(cache=True)``."""
    here = Path(module_globals["__file__"]).parent
    current = callee_hash(tuple(here / c for c in callees))
    functions = _cached(module_globals)
    if not functions:
        return False
    stem = Path(module_globals["__file__"]).stem
    record = Path(functions[0]._cache.cache_path) / f"{stem}.numba-callees"
    try:
        if record.is_file() and record.read_text() == current:
            return False
        for fn in functions:
            fn._cache.flush()  # an empty index: the next call compiles and saves afresh
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
        tmp.write_text(current)
        os.replace(tmp, record)
        return True
    except OSError:  # read-only install: its sources, and so its cache, never change
        return False
