"""Converters and targets, found through entry points and imported only when used.

The built-ins are declared in pyproject.toml under ``neuroedge.converters`` and
``neuroedge.targets`` exactly as a third party's would be. Listing names never
imports a module, so ``neuroedge --help`` stays fast and torch-free; a module
that fails to import disables only its own entry, with the reason.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal, Protocol, Union

import numpy as np

from neuroedge.bundle import Bundle, TensorSpec

CONVERTER_GROUP = "neuroedge.converters"
TARGET_GROUP = "neuroedge.targets"


class RegistryError(Exception):
    """An unknown name, an entry that failed to import, or a bad parameter."""


class Runner(Protocol):
    """What a target gives back for a bundle."""

    target: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]: ...

    def benchmark(self, inputs: list[np.ndarray], config: Any) -> Any: ...

    def resources(self) -> dict[str, Any]: ...

    def settings(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Converter:
    """``convert(source, params, out, force) -> Bundle``; ``source`` is a Bundle or a model reference."""

    name: str
    summary: str
    params: type
    convert: Callable[..., Bundle]
    accepts: Literal["model", "bundle"] = "bundle"
    version: str = "0.1.0"


@dataclass(frozen=True)
class Target:
    """``open(bundle, options) -> Runner``. ``available()`` is True or a one-line reason with the fix."""

    name: str
    summary: str
    formats: tuple[str, ...]
    available: Callable[[], Literal[True] | str]
    open: Callable[..., Runner]
    # What one benchmark on this target holds exclusively (for sweeps): {"bench": 1} on a CPU,
    # {"mcu": 1} for a serial board, {"GPU": 1} for TensorRT.
    bench_resources: dict[str, float] = field(default_factory=lambda: {"bench": 1})


def _entries(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def converter_names() -> list[str]:
    return sorted(_entries(CONVERTER_GROUP))


def target_names() -> list[str]:
    return sorted(_entries(TARGET_GROUP))


def _load(group: str, kind: str, name: str) -> Any:
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


def get_converter(name: str) -> Converter:
    return _load(CONVERTER_GROUP, "converter", name)


def get_target(spec: str) -> Target:
    """The target named by ``spec``: a name, or a URL whose scheme is the name (``jetson://...``)."""
    return _load(TARGET_GROUP, "target", split_target_spec(spec)[0])


def target_status(name: str) -> Literal[True] | str:
    """True if the target can run here, else the one-line reason (never raises)."""
    try:
        target = get_target(name)
        return target.available()
    except RegistryError as exc:
        return str(exc)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def split_target_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``jetson://user@host:22`` -> (``jetson``, {"url": spec}); a plain name has no options."""
    scheme, sep, _ = spec.partition("://")
    if sep and scheme:
        return scheme, {"url": spec}
    return spec, {}


def open_runner(bundle: Bundle, target_name: str, options: Mapping[str, Any] | None = None) -> Runner:
    """Open ``bundle`` on a target, after checking the target is available and takes its format.

    ``target_name`` may be a URL whose scheme names the target (``jetson://user@board``); the
    URL is then passed as the ``url`` option.
    """
    target = get_target(target_name)
    options = {**split_target_spec(target_name)[1], **dict(options or {})}
    status = target.available()
    if status is not True:
        raise RegistryError(f"target {target_name!r} is not available here: {status}")
    if bundle.format not in target.formats:
        raise RegistryError(
            f"target {target_name!r} runs {', '.join(target.formats)} bundles; "
            f"{bundle.path} is {bundle.format!r}"
        )
    return target.open(bundle, dict(options or {}))


# ---- typed parameters ------------------------------------------------------------------------

def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Turn a CLI string or TOML value into ``tp``: int, float, bool, str, tuple[int, ...], Optional."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        return _coerce(value, args[0], where)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise RegistryError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (tuple, list):
        args = typing.get_args(tp)
        item = args[0] if args else str
        items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
        out = [_coerce(v, item, where) for v in items]
        return tuple(out) if origin is tuple else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise RegistryError(f"{where}: expected a table, got {value!r}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise RegistryError(f"{where}: expected true or false, got {value!r}")
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return tp(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise RegistryError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    return value


def parse_params(params_type: type, raw: Mapping[str, Any], where: str = "params") -> Any:
    """Build a params dataclass from strings or TOML values; an unknown or bad key names itself."""
    hints = typing.get_type_hints(params_type)
    fields = {f.name: f for f in dataclasses.fields(params_type)}
    kwargs = {}
    for key, value in raw.items():
        norm = key.replace("-", "_")
        if norm not in fields:
            raise RegistryError(f"{where}: unknown parameter {key!r}; known: {', '.join(sorted(fields))}")
        kwargs[norm] = _coerce(value, hints[norm], f"{where}.{key}")
    try:
        return params_type(**kwargs)
    except TypeError as exc:
        raise RegistryError(f"{where}: {exc}") from None
    except ValueError as exc:
        raise RegistryError(f"{where}: {exc}") from None


def params_to_json(params: Any) -> dict[str, Any]:
    out = {}
    for key, value in dataclasses.asdict(params).items():
        out[key] = str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
    return out


def check_inputs(specs: tuple[TensorSpec, ...], arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Check count, shape and dtype of inputs against the manifest; one clear error on mismatch."""
    if len(arrays) != len(specs):
        raise ValueError(f"expected {len(specs)} input(s) ({', '.join(s.name for s in specs)}), got {len(arrays)}")
    out = []
    for spec, arr in zip(specs, arrays, strict=True):
        arr = np.asarray(arr)
        if len(arr.shape) != len(spec.shape) or any(
            isinstance(d, int) and d != a for d, a in zip(spec.shape, arr.shape, strict=True)
        ):
            raise ValueError(
                f"input {spec.name!r}: shape {list(arr.shape)} does not match the bundle's {list(spec.shape)}"
            )
        if arr.dtype != np.dtype(spec.dtype):
            if np.issubdtype(np.dtype(spec.dtype), np.floating) and np.issubdtype(arr.dtype, np.number):
                arr = arr.astype(spec.dtype)
            else:
                raise ValueError(f"input {spec.name!r}: dtype {arr.dtype} but the bundle wants {spec.dtype}")
        out.append(np.ascontiguousarray(arr))
    return out
