"""Formats, converters and targets, found through entry points and imported only when used.

Three entry-point groups, one per kind: ``neuroedge.formats``, ``neuroedge.converters``,
``neuroedge.targets``. The built-ins are declared in pyproject.toml exactly as a third party's
would be, so that file is the one list of everything. Listing names never imports a module, so
``neuroedge --help`` stays fast and torch-free; a module that fails to import disables only its
own entry, with the reason.

A declaration is short; what every converter needs (resolving the source, calibration data,
staging, the chain step) is done once in ``neuroedge.converting``, and what every target needs
(typed options, the format check, quantising float inputs) here and in ``open_runner``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from neuroedge.entrypoints import (  # noqa: F401 - re-exported
    CONVERTER_GROUP,
    FORMAT_GROUP,
    TARGET_GROUP,
    Format,
    _load_cached,
    converter_names,
    format_names,
    get_format,
    refresh,
    target_names,
)
from neuroedge.params import (  # noqa: F401 - re-exported: the registry is the contract's one import
    ParamError,
    RegistryError,
    describe,
    opt,
    params_to_json,
    parse_params,
)

MODEL = "model"  # what a converter that takes a torch model (not a bundle) reads

if TYPE_CHECKING:  # the manifest looks formats up here, so the registry must not import it at run time
    from neuroedge.manifest import TensorSpec


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
class NoOptions:
    """A target without options."""


@dataclass(frozen=True)
class Converter:
    """``build(source, params, folder) -> Manifest`` writes a bundle's files into a staging ``folder``.

    ``reads``: ``("model",)`` for a torch model (the source is a ``neuroedge.converting.ModelSource``),
    else the bundle formats it takes (the source is a ``Bundle``). The registry stages the output,
    appends the chain step and writes the manifest (``neuroedge.converting.run_converter``).
    """

    name: str
    params: type
    build: Callable[..., Any]
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    summary: str = ""
    version: str = "0.1.0"

    def __post_init__(self) -> None:
        for key in ("reads", "writes"):
            value = getattr(self, key)
            object.__setattr__(self, key, (value,) if isinstance(value, str) else tuple(value))
        if not self.summary:
            doc = (self.build.__doc__ or "").strip().splitlines()
            object.__setattr__(self, "summary", doc[0] if doc else self.name)

    @property
    def accepts(self) -> Literal["model", "bundle"]:
        return "model" if MODEL in self.reads else "bundle"

    def convert(self, source: Any, params: Any, out: Any, force: bool = False) -> Any:
        """Run the converter end to end into the bundle ``out`` (``params``: the dataclass or raw values)."""
        from neuroedge.converting import run_converter

        return run_converter(self, source, params, out, force)

    __call__ = convert


@dataclass(frozen=True)
class Target:
    """``open(bundle, options) -> Runner``, ``options`` an instance of the ``options`` dataclass.

    ``available()`` is True or a one-line reason with the fix. ``bench_resources``: what one
    benchmark holds exclusively (for sweeps): {"bench": 1} on a CPU, {"mcu": 1} for a serial board.
    ``bench_rounds``: how many timed rounds a benchmark makes by default (simulators and boards
    that take long per call declare fewer).
    """

    name: str
    formats: tuple[str, ...]
    open: Callable[..., Runner]
    options: type = NoOptions
    available: Callable[[], Literal[True] | str] = lambda: True
    summary: str = ""
    bench_resources: dict[str, float] = field(default_factory=lambda: {"bench": 1})
    bench_rounds: int = 5
    url_option: str | None = None  # the option a ``name://...`` target spec fills (jetson: "url")

    def __post_init__(self) -> None:
        if isinstance(self.formats, str):
            object.__setattr__(self, "formats", (self.formats,))
        if not self.summary:
            doc = (self.open.__doc__ or "").strip().splitlines()
            object.__setattr__(self, "summary", doc[0] if doc else self.name)


def requires(module: str, install: str) -> Callable[[], Literal[True] | str]:
    """A target's ``available``: True when ``module`` imports, else one line with ``install``."""

    def available() -> Literal[True] | str:
        import importlib.util

        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: {install}"
        return True

    return available


def get_converter(name: str) -> Converter:
    return _load_cached(CONVERTER_GROUP, "converter", name)


def get_target(spec: str) -> Target:
    """The target named by ``spec``: a name, or a URL whose scheme is the name (``jetson://...``)."""
    return _load_cached(TARGET_GROUP, "target", split_target_spec(spec)[0])


def target_status(name: str) -> Literal[True] | str:
    """True if the target can run here, else the one-line reason (never raises)."""
    try:
        return get_target(name).available()
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


def target_options(target_spec: str, raw: Mapping[str, Any] | None = None) -> Any:
    """The target's options dataclass, filled from raw values (a URL spec fills ``url``)."""
    target = get_target(target_spec)
    merged = dict(raw or {})
    url = split_target_spec(target_spec)[1].get("url")
    if url is not None:
        if target.url_option is None:
            raise ParamError(f"target {target.name!r} takes no URL; use the plain name {target.name!r}")
        merged.setdefault(target.url_option, url)
    return parse_params(target.options, merged, where=f"target {target.name!r}", kind="option")


def open_runner(bundle: Any, target_spec: str, options: Mapping[str, Any] | Any = None) -> Runner:
    """Open ``bundle`` on a target, after checking the target is available and takes its format.

    ``options``: raw values (``{"threads": "2"}``), or the target's options dataclass. A
    ``name://...`` spec fills the target's URL option.
    """
    target = get_target(target_spec)
    status = target.available()
    if status is not True:
        raise RegistryError(f"target {target_spec!r} is not available here: {status}")
    if bundle.format not in target.formats:
        raise RegistryError(
            f"target {target.name!r} runs {', '.join(target.formats)} bundles; "
            f"{bundle.path} is {bundle.format!r}"
        )
    opts = options if isinstance(options, target.options) else target_options(target_spec, options)
    return target.open(bundle, opts)


def check_inputs(specs: tuple[TensorSpec, ...], arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Check count, shape and dtype of inputs against the manifest; one clear error on mismatch.

    Float data for a quantised input is quantised with the spec's scale and zero point, so every
    caller (accuracy, benchmarks, sweeps) feeds the same float data to every target.
    """
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
            if spec.quant is not None and np.issubdtype(arr.dtype, np.floating):
                arr = spec.quant.quantize(arr, spec.dtype)
            elif np.issubdtype(np.dtype(spec.dtype), np.floating) and np.issubdtype(arr.dtype, np.number):
                arr = arr.astype(spec.dtype)
            elif spec.quant is None and np.can_cast(arr.dtype, spec.dtype, "safe"):  # int32 ids, int64 input: exact
                arr = arr.astype(spec.dtype)
            else:
                raise ValueError(f"input {spec.name!r}: dtype {arr.dtype} but the bundle wants {spec.dtype}")
        out.append(np.ascontiguousarray(arr))
    return out
