"""The typed manifest of a bundle: every field one part hands another, validated on construction.

Manifest (format_version 1)::

    {
      "format_version": 1,
      "format": "onnx",                       # a registered format (neuroedge.formats entry points)
      "main": "model.onnx",                   # the file a target opens first
      "inputs":  [{"name": "x", "shape": ["batch", 64], "dtype": "float32", "quant": null}],
      "outputs": [{"name": "y", "shape": ["batch", 10], "dtype": "float32", "quant": null}],
      "state":   [{"input": "h_in", "output": "h_out"}],     # recurrent state a runner carries
      "torch_reference": {"kind": "factory", "factory": "pkg.mod:fn", "kwargs": {}, "weights": "torch/weights.pt"},
      "chain":   [{"converter": "export-onnx", "version": "0.1.0", "params": {...}, "input_hash": "sha256:..."}],
      "metrics": {"onnx_max_abs_error": 1.2e-7},
      "files":   {"model.onnx": "sha256:..."},
      "extra":   {...}                        # checked against the format's declared ``extra`` dataclass
    }

As NIR does for its primitives, each piece is a small frozen dataclass whose ``__post_init__``
checks it, so a bad manifest fails where it is built or read, naming the field.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

FORMAT_VERSION = 1
DTYPES = frozenset(
    {"float32", "float16", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"}
)


class BundleError(Exception):
    """A bundle (or a manifest field) is missing, corrupt or of an unknown kind."""


@dataclass(frozen=True)
class QuantSpec:
    """Affine quantisation of a tensor: ``real = scale * (q - zero_point)``, q in ``bits`` bits."""

    scale: float
    zero_point: int = 0
    bits: int = 8
    signed: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) \
                or not math.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"quant.scale must be a finite number > 0, got {self.scale!r}")
        object.__setattr__(self, "scale", float(self.scale))
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or not 2 <= self.bits <= 32:
            raise ValueError(f"quant.bits must be an int in 2..32, got {self.bits!r}")
        lo, hi = self.range
        if not isinstance(self.zero_point, int) or isinstance(self.zero_point, bool) or not lo <= self.zero_point <= hi:
            raise ValueError(f"quant.zero_point must be an int in [{lo}, {hi}], got {self.zero_point!r}")

    @property
    def range(self) -> tuple[int, int]:
        return (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1) if self.signed else (0, (1 << self.bits) - 1)

    def quantize(self, x: np.ndarray, dtype: str) -> np.ndarray:
        """Float to integer codes (round half to even, as numpy and the firmware reference do)."""
        lo, hi = self.range
        q = np.round(np.asarray(x, np.float64) / self.scale) + self.zero_point
        return np.clip(q, lo, hi).astype(dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return ((np.asarray(q, np.float64) - self.zero_point) * self.scale).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: a name, a shape (ints; a string names a dynamic axis), a dtype, a quantisation."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    quant: QuantSpec | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("name must be a non-empty string")
        shape = tuple(self.shape)
        for dim in shape:
            if isinstance(dim, bool) or not (
                (isinstance(dim, int) and dim >= 0) or (isinstance(dim, str) and dim)
            ):
                raise ValueError(f"shape {list(shape)}: each dim must be an int >= 0 or a name")
        object.__setattr__(self, "shape", shape)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is not one of {sorted(DTYPES)}")
        if isinstance(self.quant, dict):
            object.__setattr__(self, "quant", QuantSpec(**self.quant))
        elif self.quant is not None and not isinstance(self.quant, QuantSpec):
            raise ValueError("quant must be an object {scale, zero_point, bits, signed} or null")

    def concrete_shape(self, batch: int = 1) -> tuple[int, ...]:
        """The shape with every named (dynamic) axis set to ``batch``."""
        return tuple(d if isinstance(d, int) else batch for d in self.shape)

    def to_json(self) -> dict[str, Any]:
        quant = self.quant.to_json() if self.quant else None
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "quant": quant}


@dataclass(frozen=True)
class StatePair:
    """Recurrent state: the runner feeds output ``output`` of one call back as input ``input`` of the next.

    The first call gets zeros (or ``init``, a file in the bundle holding the initial value).
    """

    input: str
    output: str
    init: str | None = None

    def __post_init__(self) -> None:
        for key in ("input", "output"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ValueError(f"state.{key} must be a non-empty string")


@dataclass(frozen=True)
class TorchReference:
    """How the ``torch`` target rebuilds the eager model a bundle came from.

    ``factory``: ``factory(**kwargs)`` with the state_dict file ``weights`` (read weights-only);
    ``torchscript``: the TorchScript file ``path`` inside the bundle.
    """

    kind: Literal["factory", "torchscript"]
    factory: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "factory" and not self.factory:
            raise ValueError("torch_reference.factory is required when kind is 'factory'")
        if self.kind == "torchscript" and not self.path:
            raise ValueError("torch_reference.path is required when kind is 'torchscript'")
        if self.kind not in ("factory", "torchscript"):
            raise ValueError(f"torch_reference.kind must be 'factory' or 'torchscript', got {self.kind!r}")
        if not isinstance(self.kwargs, dict):
            raise ValueError("torch_reference.kwargs must be an object")

    def files(self) -> list[str]:
        return [f for f in (self.weights, self.path) if f]

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {})} | {"kind": self.kind}


@dataclass(frozen=True)
class ChainStep:
    """One converter application: which converter, its version and params, and what it read."""

    converter: str
    version: str
    params: dict[str, Any]
    input_hash: str

    def __post_init__(self) -> None:
        for name in ("converter", "version", "input_hash"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string")
        if not isinstance(self.params, dict):
            raise ValueError("params must be an object")


def _check_format(name: str) -> None:
    from neuroedge.entrypoints import format_names

    known = format_names()
    if name not in known:
        raise ValueError(f"unknown format {name!r}; known: {', '.join(known)} (a plugin registers its own "
                         "under the 'neuroedge.formats' entry-point group)")


@dataclass(frozen=True)
class Manifest:
    """What a bundle holds. Validated on construction; files are checked by ``load``."""

    format: str
    main: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    chain: tuple[ChainStep, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    state: tuple[StatePair, ...] = ()
    torch_reference: TorchReference | None = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        _check_format(self.format)
        for key in ("inputs", "outputs", "chain", "state"):
            object.__setattr__(self, key, tuple(getattr(self, key)))
        if not self.inputs:
            raise ValueError("a bundle needs at least one input")
        ins = {s.name: s for s in self.inputs}
        outs = {s.name: s for s in self.outputs}
        for pair in self.state:
            if pair.input not in ins or pair.output not in outs:
                raise ValueError(f"state {pair.input!r} <- {pair.output!r}: both must name an input and an output")
            a, b = ins[pair.input], outs[pair.output]
            if a.dtype != b.dtype or len(a.shape) != len(b.shape):
                raise ValueError(f"state {pair.input!r} <- {pair.output!r}: dtype/rank differ "
                                 f"({a.dtype} {list(a.shape)} vs {b.dtype} {list(b.shape)})")
        if len(self.state) == len(self.inputs):
            raise ValueError("every input is recurrent state; a bundle needs at least one data input")

    @property
    def data_inputs(self) -> tuple[TensorSpec, ...]:
        """The inputs a caller feeds: all inputs but the recurrent state the runner carries."""
        carried = {p.input for p in self.state}
        return tuple(s for s in self.inputs if s.name not in carried)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format_version": self.format_version,
            "format": self.format,
            "main": self.main,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
        }
        if self.state:
            out["state"] = [{k: v for k, v in asdict(p).items() if v is not None} for p in self.state]
        if self.torch_reference is not None:
            out["torch_reference"] = self.torch_reference.to_json()
        return out | {"chain": [asdict(s) for s in self.chain], "metrics": self.metrics,
                      "files": self.files, "extra": self.extra}


def _field(where: str, data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise BundleError(f"{where}: missing field '{key}'")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise BundleError(f"{where}: field '{key}' must be {want}, got {type(value).__name__}")
    return value


def _items(where: str, data: dict[str, Any], key: str, build: Any, required: bool = True) -> list[Any]:
    out = []
    raw = _field(where, data, key, list) if required or key in data else []
    for i, item in enumerate(raw):
        try:
            if not isinstance(item, dict):
                raise ValueError("must be an object")
            out.append(build(item))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: field '{key}[{i}]': {exc}") from None
    return out


def _spec(item: dict[str, Any]) -> TensorSpec:
    return TensorSpec(item["name"], item["shape"], item.get("dtype", "float32"), item.get("quant"))


def manifest_from_json(data: Any, where: str) -> Manifest:
    """Parse and validate a manifest dict; ``where`` (the manifest's path) prefixes every error."""
    if not isinstance(data, dict):
        raise BundleError(f"{where}: the manifest must be a JSON object")
    version = _field(where, data, "format_version", int)
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{where}: field 'format_version' is {version}, newer than this neuroedge reads "
            f"({FORMAT_VERSION}); upgrade neuroedge"
        )
    fmt = _field(where, data, "format", str)
    try:
        _check_format(fmt)
    except ValueError as exc:
        raise BundleError(f"{where}: field 'format': {exc}") from None
    files = _field(where, data, "files", dict)
    for name, digest in files.items():
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise BundleError(f"{where}: field 'files.{name}' must be 'sha256:<hex>'")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BundleError(f"{where}: field 'files.{name}' must be a relative path inside the bundle")
    main = _field(where, data, "main", str)
    if main not in files:
        raise BundleError(f"{where}: field 'main' names {main!r}, which is not listed in 'files'")
    ref = None
    if data.get("torch_reference") is not None:
        try:
            ref = TorchReference(**_field(where, data, "torch_reference", dict))
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{where}: field 'torch_reference': {exc}") from None
        for name in ref.files():
            if name not in files:
                raise BundleError(f"{where}: field 'torch_reference' names {name!r}, which is not in 'files'")
    try:
        manifest = Manifest(
            format=fmt, main=main,
            inputs=_items(where, data, "inputs", _spec), outputs=_items(where, data, "outputs", _spec),
            chain=_items(where, data, "chain", lambda d: ChainStep(**d)),
            metrics=_field(where, data, "metrics", dict), files=files, extra=data.get("extra", {}) or {},
            state=_items(where, data, "state", lambda d: StatePair(**d), required=False),
            torch_reference=ref, format_version=version,
        )
    except ValueError as exc:
        raise BundleError(f"{where}: {exc}") from None
    check_extra(manifest, where)
    return manifest


def check_extra(manifest: Manifest, where: str) -> None:
    """Check ``extra`` against the dataclass the format declares (fields one part hands another)."""
    from neuroedge.entrypoints import get_format

    declared = get_format(manifest.format).extra
    if declared is None:
        return
    from dataclasses import fields

    from neuroedge.params import ParamError, parse_params

    names = {f.name for f in fields(declared)}
    try:
        parse_params(declared, {k: v for k, v in manifest.extra.items() if k in names},
                     where=f"{where}: field 'extra'")
    except ParamError as exc:
        raise BundleError(str(exc)) from None
