"""Entry-point lookups for the three registries: formats, converters, targets.

Apart from ``neuroedge.registry`` so the manifest can check a format name without importing the
registry (which calls into the converter plumbing, which reads manifests).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from neuroedge.params import RegistryError

FORMAT_GROUP = "neuroedge.formats"
CONVERTER_GROUP = "neuroedge.converters"
TARGET_GROUP = "neuroedge.targets"


@dataclass(frozen=True)
class Format:
    """A bundle format. ``extra``: a dataclass the manifest's ``extra`` must fill (checked on load).

    ``torch_model(bundle) -> nn.Module`` rebuilds the eager model for the ``torch`` target, where the
    format can (a quantised bundle rebuilds its brevitas model from its own chain step).
    """

    name: str
    summary: str
    extra: type | None = None
    torch_model: Callable[[Any], Any] | None = None


@functools.cache
def _entries(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def refresh() -> None:
    """Forget the cached entry points (after installing a plugin in this process)."""
    _entries.cache_clear()
    _load_cached.cache_clear()


def format_names() -> list[str]:
    return sorted(_entries(FORMAT_GROUP))


def converter_names() -> list[str]:
    return sorted(_entries(CONVERTER_GROUP))


def target_names() -> list[str]:
    return sorted(_entries(TARGET_GROUP))


@functools.cache
def _load_cached(group: str, kind: str, name: str) -> Any:
    entries = _entries(group)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none (is neuroedge installed? run make setup)"
        raise RegistryError(f"unknown {kind} {name!r}; known: {known}")
    try:
        return entries[name].load()
    except Exception as exc:  # a broken optional dependency disables only this entry
        raise RegistryError(
            f"{kind} {name!r} cannot be imported ({type(exc).__name__}: {exc}); "
            "run make setup, or install its extra"
        ) from exc


def get_format(name: str) -> Format:
    return _load_cached(FORMAT_GROUP, "format", name)
