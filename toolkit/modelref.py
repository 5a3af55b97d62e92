"""Resolve a model reference to a ``torch.nn.Module``, without ever unpickling untrusted data.

Accepted references:

* ``package.module:factory`` -- imported and called (the current folder is on the import path,
  so ``examples.digits.models:digits_cnn`` works from the repo root); optional ``weights`` is a
  state_dict file, read with ``torch.load(..., weights_only=True)``.
* a TorchScript file (``.ts``, ``.torchscript``, or a ``.pt`` that ``torch.jit.load`` reads).
* an ExportedProgram file (``.pt2``). ``torch.export.load`` unpickles, so it is refused unless the
  caller passes ``trust_pickle=True`` for a file they made themselves.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ModelRefError(Exception):
    """A model reference that cannot be resolved, or a file that is refused."""


@dataclass
class LoadedModel:
    module: Any  # torch.nn.Module
    # How to rebuild it: {"kind": "factory", "factory": ..., "weights": ...} | {"kind": "torchscript", ...}
    source: dict[str, Any] = field(default_factory=dict)


def _is_factory_ref(ref: str) -> bool:
    mod, sep, attr = ref.partition(":")
    return bool(sep and mod and attr) and not os.path.exists(ref) and all(
        part.isidentifier() for part in mod.split(".") + attr.split(".")
    )


def import_object(ref: str) -> Any:
    """Import ``package.module:attr`` with the current folder on the path."""
    mod_name, _, attr = ref.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ModelRefError(f"{ref}: cannot import module {mod_name!r} ({exc})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelRefError(f"{ref}: module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a state_dict with ``weights_only=True``; a pickle of arbitrary code is refused."""
    import pickle

    import torch

    p = Path(path)
    if not p.is_file():
        raise ModelRefError(f"{p}: no such weights file")
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__  # torch's advice follows
        raise ModelRefError(
            f"{p}: refused: not a weights-only file (it would run code when unpickled): {first}"
        ) from None
    except Exception as exc:
        raise ModelRefError(f"{p}: cannot read weights: {type(exc).__name__}: {exc}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ModelRefError(f"{p}: expected a state_dict (a dict of tensors), got {type(sd).__name__}")
    return sd


def _is_torchscript(p: Path) -> bool:
    if not zipfile.is_zipfile(p):
        return False
    with zipfile.ZipFile(p) as z:
        return any(n.endswith("/code/__torch__.py") or "/code/" in n for n in z.namelist())


def load_model(
    ref: str | os.PathLike[str],
    weights: str | os.PathLike[str] | None = None,
    factory_kwargs: dict[str, Any] | None = None,
    trust_pickle: bool = False,
) -> LoadedModel:
    """Resolve ``ref`` (see the module docstring) to a module in eval mode."""
    import torch

    ref_s = os.fspath(ref)
    if _is_factory_ref(ref_s):
        factory = import_object(ref_s)
        if not callable(factory):
            raise ModelRefError(f"{ref_s}: not callable")
        model = factory(**(factory_kwargs or {}))
        if not isinstance(model, torch.nn.Module):
            raise ModelRefError(f"{ref_s}: returned {type(model).__name__}, not a torch.nn.Module")
        source: dict[str, Any] = {"kind": "factory", "factory": ref_s, "kwargs": factory_kwargs or {}}
        if weights is not None:
            sd = load_state_dict(weights)
            try:
                model.load_state_dict(sd)
            except RuntimeError as exc:
                # torch lists every missing, unexpected and mis-shaped key: keep all of it
                raise ModelRefError(f"{weights}: does not fit {ref_s}: {str(exc).strip()}") from None
            source["weights"] = os.fspath(weights)
        return LoadedModel(model.eval(), source)

    p = Path(ref_s)
    if p.is_dir() and (p / "manifest.json").is_file():
        raise ModelRefError(
            f"{ref_s}: a neuroedge bundle, not a PyTorch model; a converter here rewrites a torch model's layers. "
            "Give the model itself ('package.module:factory' with --param weights=..., TorchScript or a state_dict "
            "with its factory); a bundle goes to `neuroedge run`, `bench` and `inspect`, or to a converter that "
            "takes its format (`neuroedge converters` lists each one's input)"
        )
    if not p.is_file():
        raise ModelRefError(
            f"{ref_s}: " + ("a directory" if p.is_dir() else "no such file") +
            ", and not a 'package.module:factory' reference either"
        )
    if p.suffix == ".pt2":
        if not trust_pickle:
            raise ModelRefError(
                f"{p}: refused: torch.export.load unpickles, which can run code; pass "
                "--param trust_pickle=true only for a file you made yourself"
            )
        ep = torch.export.load(p)
        return LoadedModel(ep.module(), {"kind": "exported-program", "path": str(p)})
    if _is_torchscript(p):
        try:
            model = torch.jit.load(str(p), map_location="cpu")
        except Exception as exc:
            raise ModelRefError(f"{p}: not a loadable TorchScript file: {exc}") from None
        return LoadedModel(model.eval(), {"kind": "torchscript", "path": str(p)})
    # Anything else is a state_dict, which needs an architecture to go into.
    load_state_dict(p)  # refuses pickled code with a clear message before anything else
    raise ModelRefError(
        f"{p}: is a state_dict; give the architecture as 'package.module:factory' and this file as weights"
    )


def model_hash(model: Any) -> str:
    """A content hash of a module's parameters and buffers (names, shapes, values)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        t = tensor.detach().cpu().contiguous()
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.numpy().tobytes() if t.dtype.is_floating_point or not t.is_quantized else b"")
    return "sha256:" + h.hexdigest()
