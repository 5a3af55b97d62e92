"""The ``splitquant`` converter: a torch model in, a QCDQ ONNX bundle (plus QONNX and packed weights) out.

    neuroedge convert splitquant examples.digits.models:digits_mlp -o out/mlp-int2 \\
        --param bits=2 --param input_shape=1,64 --param weights=.cache/splitquant/digits_mlp.pt

Bundle files: ``model.qcdq.onnx`` (main; runs in onnxruntime), ``model.qonnx.onnx`` (bits < 8; ``Quant``
nodes, checked with qonnx's executor), ``weights.packed.npz`` (integer codes at their real size).

``merge=true`` (the default; deployment): after the three parts of each split layer are quantised, the
main file holds one layer per original layer, its weight the sum of the three dequantised parts, which
``weights.packed.npz`` stores as per-channel codebooks (``merge.py``). Its outputs equal the three-part
model's up to float summation (``merged_max_rel_error``). The QONNX file keeps the three quantised parts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroedge.bundle import Manifest, TensorSpec
from neuroedge.converters.splitquant import export, pack
from neuroedge.converters.splitquant.layers import walk
from neuroedge.converters.splitquant.merge import byte_report, codebook_arrays, merge_split
from neuroedge.converters.splitquant.params import SplitQuantParams
from neuroedge.converters.splitquant.quantize import (
    quant_layers,
    quantize_weights,
    resolve_scheme,
)
from neuroedge.converters.splitquant.reference import save_reference
from neuroedge.converters.splitquant.split import split_cost, split_layers
from neuroedge.converting import require_eager

VERSION = "0.1.0"
MAIN, QONNX, PACKED = "model.qcdq.onnx", "model.qonnx.onnx", "weights.packed.npz"


def _accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        pred = torch.cat([model(b).argmax(1) for b in torch.from_numpy(x).split(256)]).numpy()
    return float((pred == y).mean() * 100)


def convert(source: Any, params: SplitQuantParams, folder: Path) -> Manifest:
    """SplitQuant layer splitting + brevitas INT2..INT8 quantisation -> QCDQ ONNX, QONNX, packed weights"""
    require_eager(source, "splitquant")
    model = source.module
    if not source.input_shape:
        raise ValueError("splitquant: give input_shape (e.g. --param input_shape=1,64) or calibration data")
    shape = source.input_shape
    calib = source.calibration.x if source.calibration is not None else None
    labels = source.calibration.y if source.calibration is not None else None
    check = source.example_input(params.check_samples, params.seed)
    with torch.no_grad():
        fp_out = model(torch.from_numpy(check[:1]))
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

    deployed, codebooks = q, None
    if params.merge and params.split:
        deployed, merged_weights = merge_split(q)
        with torch.no_grad():
            y3, ym = q(torch.from_numpy(check)), deployed(torch.from_numpy(check))
        metrics["merged_max_rel_error"] = float((ym - y3).abs().max() / y3.abs().max().clamp_min(1e-30))
        metrics.update(byte_report(merged_weights))
        codebooks = codebook_arrays(merged_weights)
        layers = quant_layers(deployed)  # the layers left quantised (not split): packed as integer codes
    export.export_qcdq(deployed, check, folder / MAIN)
    metrics["qcdq_ort_max_abs_error"] = export.check_qcdq(deployed, folder / MAIN, check)
    metrics["qcdq_ort_basic_max_abs_error"] = export.check_qcdq(deployed, folder / MAIN, check, optimize=False)
    metrics["onnx_bytes"] = (folder / MAIN).stat().st_size
    if params.bits < 8 and params.qonnx:
        export.export_qonnx(q, check, folder / QONNX)
        metrics["qonnx_max_abs_error"] = export.check_qonnx(q, folder / QONNX, check)
    metrics.update(pack.write_packed(folder / PACKED, layers, codebooks))
    metrics["packed_vs_onnx"] = metrics["packed_bytes"] / metrics["onnx_bytes"]
    reference = save_reference(source, calib, folder)
    return Manifest(
        format="qcdq-onnx", main=MAIN,
        inputs=(TensorSpec(export.INPUT_NAME, ("N", *shape[1:])),),
        outputs=(TensorSpec(export.OUTPUT_NAME, ("N", *fp_out.shape[1:])),),
        metrics=metrics, torch_reference=reference,
        extra={
            "scheme": resolve_scheme(params.bits, params.scheme),
            "bits": params.bits,
            "split": params.split,
            "merged": codebooks is not None,
            "quantised_layers": sorted(layers),
            "float_layers": [f"{n} ({k})" for n, k in opaque],
            "qonnx": QONNX if (folder / QONNX).exists() else None,
            "packed_weights": PACKED,
        },
    )
