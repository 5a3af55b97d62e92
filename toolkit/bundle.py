"""The Bundle: a folder with ``manifest.json`` and the files it names.

A bundle is what flows from converter to converter to target. The manifest is
typed (the dataclasses below validate on construction, as NIR's primitives do),
the files are hashed, writes are atomic, and ``load`` turns every problem into
one ``BundleError`` that names the file and the field.

Manifest (format_version 1)::

    {
      "format_version": 1,
      "format": "onnx",                       # one of FORMATS
      "main": "model.onnx",                   # the file a target opens first
      "inputs":  [{"name": "x", "shape": [1, 64], "dtype": "float32", "quant": null}],
      "outputs": [{"name": "y", "shape": [1, 10], "dtype": "float32", "quant": null}],
      "chain":   [{"converter": "export-onnx", "version": "0.1.0",
                   "params": {...}, "input_hash": "sha256:..."}],
      "metrics": {"onnx_max_abs_error": 1.2e-7, ...},
      "files":   {"model.onnx": "sha256:..."},
      "extra":   {...}                        # format-specific, free-form JSON
    }
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FORMATS = frozenset(
    {"onnx", "qcdq-onnx", "qonnx", "snn-loihi", "tensorrt-plan", "mcu-blob", "nir"}
)
DTYPES = frozenset(
    {"float32", "float16", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"}
)


class BundleError(Exception):
    """A bundle (or a manifest field) is missing, corrupt or of an unknown kind."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: a name, a shape (ints; a string names a dynamic axis) and a dtype.

    ``quant`` optionally describes an affine quantisation: ``real = scale * (q - zero_point)``,
    as ``{"scale": float, "zero_point": int, "bits": int}``.
    """

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    quant: dict[str, Any] | None = None

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
        if self.quant is not None and not isinstance(self.quant, dict):
            raise ValueError("quant must be an object or null")

    def concrete_shape(self, batch: int = 1) -> tuple[int, ...]:
        """The shape with every named (dynamic) axis set to ``batch``."""
        return tuple(d if isinstance(d, int) else batch for d in self.shape)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "quant": self.quant}


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
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}; known: {sorted(FORMATS)}")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "chain", tuple(self.chain))
        if not self.inputs:
            raise ValueError("a bundle needs at least one input")

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "format": self.format,
            "main": self.main,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "chain": [asdict(s) for s in self.chain],
            "metrics": self.metrics,
            "files": self.files,
            "extra": self.extra,
        }


def _field(where: str, data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise BundleError(f"{where}: missing field '{key}'")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise BundleError(f"{where}: field '{key}' must be {want}, got {type(value).__name__}")
    return value


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
    if fmt not in FORMATS:
        raise BundleError(f"{where}: field 'format' is {fmt!r}, not one of {sorted(FORMATS)}")

    def specs(key: str) -> list[TensorSpec]:
        out = []
        for i, item in enumerate(_field(where, data, key, list)):
            try:
                if not isinstance(item, dict):
                    raise ValueError("must be an object")
                out.append(TensorSpec(item["name"], item["shape"], item.get("dtype", "float32"), item.get("quant")))
            except (KeyError, TypeError, ValueError) as exc:
                raise BundleError(f"{where}: field '{key}[{i}]': {exc}") from None
        return out

    chain = []
    for i, item in enumerate(_field(where, data, "chain", list)):
        try:
            chain.append(ChainStep(**item))
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{where}: field 'chain[{i}]': {exc}") from None
    files = _field(where, data, "files", dict)
    for name, digest in files.items():
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise BundleError(f"{where}: field 'files.{name}' must be 'sha256:<hex>'")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BundleError(f"{where}: field 'files.{name}' must be a relative path inside the bundle")
    main = _field(where, data, "main", str)
    if main not in files:
        raise BundleError(f"{where}: field 'main' names {main!r}, which is not listed in 'files'")
    try:
        return Manifest(
            format=fmt,
            main=main,
            inputs=specs("inputs"),
            outputs=specs("outputs"),
            chain=chain,
            metrics=_field(where, data, "metrics", dict),
            files=files,
            extra=data.get("extra", {}) or {},
            format_version=version,
        )
    except ValueError as exc:
        raise BundleError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class Bundle:
    """A loaded, verified bundle: its folder and its manifest."""

    path: Path
    manifest: Manifest

    @property
    def format(self) -> str:
        return self.manifest.format

    @property
    def main_file(self) -> Path:
        return self.path / self.manifest.main

    def file(self, name: str) -> Path:
        if name not in self.manifest.files:
            raise BundleError(f"{self.path / MANIFEST}: no file {name!r} in 'files'")
        return self.path / name

    @property
    def source_hash(self) -> str:
        """The hash a converter records as its ``input_hash`` when it reads this bundle."""
        return sha256_bytes(json.dumps(self.manifest.files, sort_keys=True).encode())

    def with_metrics(self, **metrics: Any) -> Bundle:
        """Merge metrics into the manifest and rewrite it atomically (the files are untouched)."""
        manifest = replace(self.manifest, metrics={**self.manifest.metrics, **metrics})
        _atomic_write_text(self.path / MANIFEST, json.dumps(manifest.to_json(), indent=2) + "\n")
        return Bundle(self.path, manifest)


def load(path: str | os.PathLike[str], verify: bool = True) -> Bundle:
    """Read and verify a bundle: the schema, every named file, and every hash."""
    root = Path(path)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"{root}: not a bundle folder (it does not exist or is not a directory)")
    if not mpath.is_file():
        raise BundleError(f"{mpath}: missing; {root} is not a neuroedge bundle")
    try:
        data = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{mpath}: not valid JSON (truncated or corrupt): {exc}") from None
    manifest = manifest_from_json(data, str(mpath))
    for name, digest in manifest.files.items():
        fpath = root / name
        if not fpath.is_file():
            raise BundleError(f"{fpath}: missing (listed in {mpath} field 'files.{name}')")
        if verify and sha256_file(fpath) != digest:
            raise BundleError(
                f"{fpath}: sha256 does not match {mpath} field 'files.{name}' (the file changed or is corrupt)"
            )
    return Bundle(root, manifest)


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that a reader sees the old content or the new, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; these are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(Path(path), (json.dumps(data, indent=2, default=_json_default) + "\n").encode())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class OutputExistsError(BundleError):
    pass


@contextmanager
def staging(out: str | os.PathLike[str], force: bool = False) -> Iterator[Path]:
    """A temp folder beside ``out`` to write into; it becomes ``out`` only if the block succeeds.

    An existing ``out`` is refused unless ``force``; with ``force`` it is swapped out in one
    rename and deleted only after the new bundle is in place, so ``out`` is never half-written.
    """
    dest = Path(out).resolve()
    if dest.exists() and not force:
        raise OutputExistsError(f"{dest}: already exists; pass --force to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes 0700; a bundle is an ordinary folder
    try:
        yield tmp
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, old / "x")
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_manifest(folder: Path, manifest: Manifest) -> Manifest:
    """Hash every file ``manifest.files`` names (or, if empty, every file in ``folder``) and write it."""
    names = list(manifest.files) or sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST
    )
    files = {}
    for name in names:
        if not (folder / name).is_file():
            raise BundleError(f"{folder / name}: listed in the manifest but not written")
        files[name] = sha256_file(folder / name)
    manifest = replace(manifest, files=files)
    if manifest.main not in files:
        raise BundleError(f"{folder}: main file {manifest.main!r} was not written")
    (folder / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2, default=_json_default) + "\n")
    return manifest


def save(out: str | os.PathLike[str], manifest: Manifest, writer: Any, force: bool = False) -> Bundle:
    """Write a bundle atomically: ``writer(folder)`` writes the files, then the manifest is hashed.

    ``writer`` is a callable taking the staging folder. Returns the loaded bundle.
    """
    with staging(out, force=force) as tmp:
        writer(tmp)
        write_manifest(tmp, manifest)
    return load(out)
