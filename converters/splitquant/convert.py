"""The ``splitquant`` converter: a torch model in, a QCDQ ONNX bundle (plus QONNX and packed weights) out.

    neuroedge convert splitquant examples.digits.models:digits_mlp -o out/mlp-int2 \\
        --param bits=2 --param input_shape=1,64 --param weights=.cache/splitquant/digits_mlp.pt

Bundle files: ``model.qcdq.onnx`` (main; runs in onnxruntime), ``model.qonnx.onnx`` (bits < 8; ``Quant``
nodes, checked with qonnx's executor), ``weights.packed.npz`` (integer codes at their real size).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroedge.bundle import (
    Bundle,
    ChainStep,
    Manifest,
    OutputExistsError,
    TensorSpec,
    load,
    staging,
    write_manifest,
)
from neuroedge.converters.splitquant import export, pack
from neuroedge.converters.splitquant.data import load_calibration
from neuroedge.converters.splitquant.layers import walk
from neuroedge.converters.splitquant.quantize import (
    SCHEMES,
    check_bits,
    quant_layers,
    quantize_weights,
    resolve_scheme,
)
from neuroedge.converters.splitquant.reference import torch_reference
from neuroedge.converters.splitquant.split import split_cost, split_layers
from neuroedge.modelref import load_model, load_state_dict, model_hash
from neuroedge.registry import params_to_json

VERSION = "0.1.0"
MAIN, QONNX, PACKED = "model.qcdq.onnx", "model.qonnx.onnx", "weights.packed.npz"


@dataclass
class SplitQuantParams:
    """Parameters of the ``splitquant`` converter."""

    bits: int = 4  # weight bit width, 2..8
    split: bool = True  # SplitQuant's layer splitting before quantisation (false: plain quantisation)
    scheme: str = "paper"  # one of quantize.SCHEMES; "paper": asym per channel < 8 bits, sym at 8
    seed: int = 0  # k-means seed
    input_shape: tuple[int, ...] = ()  # e.g. 1,64; taken from the calibration data when empty
    weights: str | None = None  # state_dict for a "package.module:factory" model
    # .npy, or .npz with x (and y): calibrates sym-per-tensor-act8; otherwise the check inputs (and accuracy)
    calibration: str | None = None
    bias_correction: bool = True  # with sym-per-tensor-act8, after calibration
    mode: str = "layerwise"  # or "graph" (brevitas FX; fails on many transformers)
    qonnx: bool = True  # also export QONNX when bits < 8
    check_samples: int = 8  # inputs compared between torch, onnxruntime and qonnx

    def __post_init__(self) -> None:
        check_bits(self.bits)
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme {self.scheme!r} is not one of {', '.join(SCHEMES)}")
        if self.mode not in ("layerwise", "graph"):
            raise ValueError(f"mode must be 'layerwise' or 'graph', got {self.mode!r}")
        if any(d <= 0 for d in self.input_shape):
            raise ValueError(f"input_shape {list(self.input_shape)}: every dim must be > 0")
        if self.check_samples < 1:
            raise ValueError("check_samples must be >= 1")


def _resolve_model(source: Any, params: SplitQuantParams) -> nn.Module:
    if isinstance(source, nn.Module):
        model = source
        if params.weights:
            model = copy.deepcopy(model)
            model.load_state_dict(load_state_dict(params.weights))
        return model.eval()
    if isinstance(source, str | os.PathLike):
        return load_model(source, weights=params.weights).module.eval()
    raise TypeError(f"splitquant takes a model reference or an nn.Module, got {type(source).__name__}")


def _inputs(params: SplitQuantParams) -> tuple[tuple[int, ...], np.ndarray | None, np.ndarray | None]:
    shape = tuple(params.input_shape)
    x = y = None
    if params.calibration:
        x, y = load_calibration(params.calibration, shape or None)
        shape = shape or (1, *x.shape[1:])
    if not shape:
        raise ValueError("splitquant: give input_shape (e.g. --param input_shape=1,64) or calibration data")
    return shape, x, y


def _accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        pred = torch.cat([model(b).argmax(1) for b in torch.from_numpy(x).split(256)]).numpy()
    return float((pred == y).mean() * 100)


def convert(source: Any, params: SplitQuantParams, out: Path, force: bool = False) -> Bundle:
    """Split (optionally), quantise with brevitas, export, check, pack; returns the written bundle."""
    if Path(out).exists() and not force:  # before minutes of work, not after
        raise OutputExistsError(f"{Path(out).resolve()}: already exists; pass --force to replace it")
    model = _resolve_model(source, params)
    shape, calib, labels = _inputs(params)
    check = calib[: params.check_samples] if calib is not None else (
        np.random.default_rng(params.seed).random((params.check_samples, *shape[1:]), dtype=np.float32)
    )
    try:
        with torch.no_grad():
            fp_out = model(torch.from_numpy(check[:1]))
    except Exception as exc:
        raise ValueError(
            f"splitquant: the model does not run on input shape {list(shape)}: {type(exc).__name__}: {exc}"
        ) from None
    _, opaque = walk(model)
    fp = split_layers(model, params.seed) if params.split else model
    metrics: dict[str, Any] = {**split_cost(model, fp)} if params.split else {
        "params_before": sum(p.numel() for p in model.parameters())}
    if params.split:
        with torch.no_grad():
            ref = model(torch.from_numpy(check))
            metrics["split_max_rel_error"] = float((fp(torch.from_numpy(check)) - ref).abs().max()
                                                   / ref.abs().max().clamp_min(1e-30))
    calib_t = torch.from_numpy(calib) if calib is not None else None
    q = quantize_weights(fp, params.bits, params.scheme, calibration=calib_t,
                         bias_correction=params.bias_correction, mode=params.mode)
    layers = quant_layers(q)
    with torch.no_grad():
        metrics["quant_vs_fp32_max_abs_diff"] = float((q(torch.from_numpy(check)) - model(torch.from_numpy(check)))
                                                      .abs().max())
    if labels is not None:
        metrics["calibration_accuracy_fp32_torch"] = _accuracy(model, calib, labels)
        metrics["calibration_accuracy_quant_torch"] = _accuracy(q, calib, labels)

    with staging(out, force=force) as tmp:
        export.export_qcdq(q, check, tmp / MAIN)
        metrics["qcdq_ort_max_abs_error"] = export.check_qcdq(q, tmp / MAIN, check)
        metrics["qcdq_ort_basic_max_abs_error"] = export.check_qcdq(q, tmp / MAIN, check, optimize=False)
        metrics["onnx_bytes"] = (tmp / MAIN).stat().st_size
        files = [MAIN]
        if params.bits < 8 and params.qonnx:
            export.export_qonnx(q, check, tmp / QONNX)
            metrics["qonnx_max_abs_error"] = export.check_qonnx(q, tmp / QONNX, check)
            files.append(QONNX)
        metrics.update(pack.write_packed(tmp / PACKED, layers))
        metrics["packed_vs_onnx"] = metrics["packed_bytes"] / metrics["onnx_bytes"]
        files.append(PACKED)
        manifest = Manifest(
            format="qcdq-onnx",
            main=MAIN,
            inputs=(TensorSpec(export.INPUT_NAME, ("N", *shape[1:])),),
            outputs=(TensorSpec(export.OUTPUT_NAME, ("N", *fp_out.shape[1:])),),
            chain=(ChainStep("splitquant", VERSION, params_to_json(params), model_hash(model)),),
            metrics=metrics,
            files={f: "" for f in files},
            extra={
                "scheme": resolve_scheme(params.bits, params.scheme),
                "bits": params.bits,
                "split": params.split,
                "quantised_layers": sorted(layers),
                "float_layers": [f"{n} ({k})" for n, k in opaque],
                "qonnx": QONNX if QONNX in files else None,
                "packed_weights": PACKED,
                "torch_reference": torch_reference(source, params_to_json(params), model_hash(model)),
            },
        )
        write_manifest(tmp, manifest)
    return load(out)
