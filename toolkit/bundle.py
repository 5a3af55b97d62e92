"""The Bundle: a folder with ``manifest.json`` and the files it names.

A bundle is what flows from converter to converter to target. The manifest is typed
(``neuroedge.manifest``: validated on construction, as NIR's primitives are), the files are
hashed, writes are atomic, and ``load`` turns every problem into one ``BundleError`` that names
the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from neuroedge.manifest import (  # noqa: F401 - re-exported: the bundle API is one import
    DTYPES,
    FORMAT_VERSION,
    BundleError,
    ChainStep,
    Manifest,
    QuantSpec,
    StatePair,
    TensorSpec,
    TorchReference,
    manifest_from_json,
)

MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


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
