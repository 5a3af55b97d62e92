"""The plumbing every converter shares, done once: source, calibration data, staging, chain step.

``run_converter(conv, source, params, out, force)``:

1. fills the params dataclass (an unknown or mistyped key is one error naming it);
2. resolves the source. A converter that reads ``"model"`` gets a ``ModelSource``: the torch module
   (from ``package.module:factory`` plus ``weights``, a TorchScript file, or an in-memory module),
   its content hash, how to rebuild it, and its calibration data. A converter that reads bundles gets
   the ``Bundle``; an ``.onnx`` file is imported as an ``onnx`` bundle first. An ``.onnx`` file given
   to a model converter is refused with the reason;
3. checks the calibration data against the model (``neuroedge.data.calibration``: one loader, one
   convention, shapes with the batch dimension);
4. calls ``conv.build(source, params, folder)`` in a staging folder, appends the chain step,
   hashes the files and writes the manifest; the folder becomes ``out`` only if all of that worked.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuroedge import progress
from neuroedge.bundle import Bundle, ChainStep, Manifest, OutputExistsError, load, staging, write_manifest
from neuroedge.data.calibration import Calibration, load_calibration
from neuroedge.manifest import TorchReference
from neuroedge.params import params_to_json, parse_params

if TYPE_CHECKING:  # the registry calls into this module; it must not import the registry back
    from neuroedge.registry import Converter


class ConvertError(ValueError):
    """A converter cannot take this source; the message says why and what to do."""


@dataclass
class ModelSource:
    """A torch model handed to a converter, with what the registry resolved for it."""

    module: Any  # torch.nn.Module, in eval mode
    hash: str  # content hash of the parameters (the chain step's input_hash)
    ref: str | None = None  # the reference it came from; None for an in-memory module
    weights: str | None = None
    origin: dict[str, Any] = field(default_factory=dict)  # modelref.LoadedModel.source
    calibration: Calibration | None = None
    input_shape: tuple[int, ...] = ()  # with the batch dimension: params.input_shape or (1, *x.shape[1:])

    def example_input(self, batch: int = 1, seed: int = 0) -> np.ndarray:
        """Calibration inputs where there are some, else seeded uniform [0, 1) of ``input_shape``."""
        if self.calibration is not None:
            return self.calibration.x[:batch]
        shape = (batch, *self.input_shape[1:])
        return np.random.default_rng(seed).random(shape, dtype=np.float32)

    def torch_reference(self) -> TorchReference | None:
        """A factory reference (weights saved by the converter as ``torch/weights.pt``), if rebuildable."""
        if self.origin.get("kind") == "factory":
            return TorchReference("factory", self.origin["factory"], self.origin.get("kwargs", {}), "torch/weights.pt")
        return None


def _param(params: Any, name: str, default: Any = None) -> Any:
    return getattr(params, name, default)


def _is_onnx_file(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(".onnx") and Path(source).is_file()


def resolve_model(conv: Converter, source: Any, params: Any) -> ModelSource:
    """The torch model, its hash, and its calibration data checked against it."""
    import torch

    from neuroedge.modelref import load_model, load_state_dict, model_hash

    if isinstance(source, Bundle) or _is_onnx_file(source):
        what = f"the ONNX file {source}" if _is_onnx_file(source) else f"the {source.format} bundle {source.path}"
        raise ConvertError(
            f"{conv.name}: needs a PyTorch model (it rewrites the model's layers in torch), but got {what}. "
            "An ONNX graph cannot be turned back into torch reliably here (onnx2torch is unmaintained and has "
            "no GRU); give the model as 'package.module:factory' (with --param weights=...) or TorchScript. "
            "ONNX files go to the onnxruntime, tensorrt and jetson targets, and to bench/run/inspect."
        )
    weights = _param(params, "weights") or None  # "" is no weights, as None is
    if isinstance(source, torch.nn.Module):
        module = source
        if weights:
            import copy

            module = copy.deepcopy(module)
            module.load_state_dict(load_state_dict(weights))
        src = ModelSource(module.eval(), model_hash(module), origin={"kind": "module"})
    else:
        if str(source).endswith(".pt2") and not hasattr(params, "trust_pickle"):  # else its advice is a dead end
            raise ConvertError(f"{conv.name}: does not take ExportedProgram (.pt2) files ({source}): their layers are "
                               "one compiled graph, not modules it can rewrite; give the model as "
                               "'package.module:factory' with --param weights=STATE_DICT")
        loaded = load_model(source, weights=weights, trust_pickle=bool(_param(params, "trust_pickle", False)))
        src = ModelSource(loaded.module, model_hash(loaded.module), os.fspath(source), weights, loaded.source)
    shape = tuple(_param(params, "input_shape", ()) or ())
    path = _param(params, "calibration")
    if path:
        limit = _param(params, "calibration_samples")
        src.calibration = load_calibration(path, shape or None, where=f"{conv.name} param 'calibration'",
                                           limit=limit)
        shape = shape or (1, *src.calibration.x.shape[1:])
    src.input_shape = shape
    if shape:
        check_model_accepts(conv.name, src.module, src.example_input(1), path)
    return src


def require_eager(source: ModelSource, name: str) -> None:
    """Refuse a compiled model in a converter that rewrites the model's torch layers.

    A TorchScript module's layers are compiled code: torch.fx cannot trace it and its children are not
    nn.Linear/nn.Conv2d, so the converter would only say it found no layer it knows, a wrong reason.
    """
    kind = source.origin.get("kind")
    if kind in ("torchscript", "exported-program"):
        raise ConvertError(f"{name}: rewrites the model's torch layers, so it needs the eager model, but {source.ref} "
                           f"is {kind} (compiled code, not layers it can read); give the model as "
                           "'package.module:factory' with --param weights=STATE_DICT (export-onnx takes compiled files)")


def check_model_accepts(name: str, module: Any, x: np.ndarray, calibration: str | None) -> None:
    """One forward pass; a shape error names the input shape instead of torch's internals."""
    import torch

    try:
        with torch.inference_mode():
            module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    except Exception as exc:
        where = f"calibration data {calibration}" if calibration else "input_shape"
        raise ConvertError(
            f"{name}: the model does not accept inputs of shape {list(x.shape)} (from {where}){_expected(module)}: "
            f"{type(exc).__name__}: {exc}\n"
            "input_shape includes the batch dimension (e.g. 1,64 or 1,1,8,8); calibration data is an array "
            "[N, ...] whose rows are model inputs"
        ) from None


def _expected(module: Any) -> str:
    """What the first layer takes, where that tells the expected input shape."""
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.Linear):
            return f"; its first layer takes [N, {m.in_features}]"
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
            dims = {torch.nn.Conv1d: "L", torch.nn.Conv2d: "H, W", torch.nn.Conv3d: "D, H, W"}[type(m)]
            return f"; its first layer takes [N, {m.in_channels}, {dims}]"
    return ""


def resolve_bundle(conv: Converter, source: Any) -> Bundle:
    if _is_onnx_file(source):
        from neuroedge.onnx_import import import_onnx

        folder = Path(tempfile.mkdtemp(prefix="neuroedge-import-"))
        source = import_onnx(source, folder / "bundle")
    elif not isinstance(source, Bundle):
        source = load(source)
    if source.format not in conv.reads:
        raise ConvertError(f"{conv.name}: reads {', '.join(conv.reads)} bundles; {source.path} is {source.format!r}")
    return source


def run_converter(conv: Converter, source: Any, params: Any, out: str | os.PathLike[str],
                  force: bool = False) -> Bundle:
    """Apply ``conv`` to ``source`` and write the bundle ``out`` atomically (see the module docstring)."""
    params = parse_params(conv.params, params, where=conv.name)
    if Path(out).exists() and not force:  # before minutes of work, not after
        raise OutputExistsError(f"{Path(out).resolve()}: already exists; pass --force to replace it")
    t0 = time.perf_counter()
    with progress.status(f"{conv.name}: converting"):
        if conv.accepts == "model":
            src: Any = resolve_model(conv, source, params)
            chain: tuple[ChainStep, ...] = ()
            input_hash = src.hash
        else:
            src = resolve_bundle(conv, source)
            chain, input_hash = src.manifest.chain, src.source_hash
        with staging(out, force=force) as tmp:
            manifest = conv.build(src, params, tmp)
            if not isinstance(manifest, Manifest):
                raise TypeError(f"{conv.name}: build() must return a Manifest, got {type(manifest).__name__}")
            if manifest.format not in conv.writes:
                raise TypeError(f"{conv.name}: wrote format {manifest.format!r}, but declares {conv.writes}")
            step = ChainStep(conv.name, conv.version, params_to_json(params), input_hash)
            write_manifest(tmp, replace(manifest, chain=(*chain, step)))
    progress.done(f"{conv.name}: wrote {Path(out)} ({time.perf_counter() - t0:.1f} s)")
    return load(out)


def chain_formats(steps: list[Converter], first_source: str = "model") -> list[str]:
    """The format after each step, checking each step reads what the one before writes.

    Raises ``ConvertError`` naming the step and both formats.
    """
    current: tuple[str, ...] = (first_source,)
    out = []
    for i, conv in enumerate(steps):
        if not set(current) & set(conv.reads):
            have = " or ".join(current)
            raise ConvertError(f"steps[{i}] {conv.name!r} reads {', '.join(conv.reads)}, but the step before "
                               f"gives {have}")
        current = conv.writes
        out.append("/".join(current))
    return out
