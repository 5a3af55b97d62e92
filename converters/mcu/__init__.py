"""Converter ``mcu``: a float PyTorch model -> full-integer INT8 model blob (+ a C array) for the firmware.

Post-training quantisation, calibrated (the TFLite-Micro / CMSIS-NN int8 scheme), by job:

* ``check``: what the firmware can run, and whether the model fits the firmware build (flash for the
  blob, arena RAM for the activations, the protocol's largest payload for input and output, the layer
  count), read from the firmware's own build settings (``neuroedge.firmware_bridge.limits``);
* ``calibrate``: the calibration data (required: ``--param calibration=FILE``) and activation ranges;
* ``quantize``: the layer chain -> the firmware's typed int8 layers.

Supported layers: Linear, Conv2d (groups 1 or depthwise), BatchNorm1d/2d (folded), ReLU, ReLU6, MaxPool2d,
AvgPool2d, AdaptiveAvgPool2d(1), Flatten, Dropout, Identity, in a plain chain. A model quantised
for weights only (torch dynamic quantisation, brevitas without activation quantisers) is refused:
the firmware runs INT8 activations, so it needs calibrated activation scales.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from neuroedge.bundle import Manifest, TensorSpec, sha256_bytes
from neuroedge.converting import require_eager
from neuroedge.firmware_bridge import reference
from neuroedge.firmware_bridge.blob import c_array, pack
from neuroedge.firmware_bridge.limits import firmware_limits
from neuroedge.registry import MODEL, Converter

from .calibrate import act_qparams, calibration_data
from .check import ConversionError, check_fits, check_full_integer_possible, check_input_shape, check_layers
from .quantize import quantize_model, quantize_multiplier

__all__ = ["CONVERTER", "ConversionError", "McuParams", "act_qparams", "quantize_model", "quantize_multiplier"]

VERSION = "0.1.0"


@dataclass
class McuParams:
    calibration: str = ""  # model inputs: .npy [N, ...], or .npz with x (and y: labels for an accuracy check); required
    calibration_samples: int = 512  # how many of them choose the scales (all are used for the agreement check)
    input_shape: tuple[int, ...] = ()  # with the batch dimension (e.g. 1,1,8,8); default: from the calibration data
    weights: str = ""  # a state_dict for a "package.module:factory" model reference
    evaluate: bool = True  # report float vs int8 top-1 agreement (and accuracy where labels are given)
    check: str = ""  # held-out inputs for that report (.npy, or .npz with x and y); default: the calibration data
    firmware: Literal["lm3s6965", "host"] = "lm3s6965"  # the firmware build whose limits the model must fit

    def __post_init__(self) -> None:
        if self.calibration_samples < 1:
            raise ValueError("calibration_samples must be >= 1")


def convert(source: Any, params: McuParams, folder: Path) -> Manifest:
    """full-integer INT8 model (calibrated PTQ) -> microcontroller firmware blob + C array"""
    import torch

    require_eager(source, "mcu")
    model = source.module
    # What the firmware cannot run comes first: a shape check would name a later layer it can (a Conv1d
    # net's head Linear) as "the model's first layer", a wrong reason.
    check_full_integer_possible(model)
    check_layers(model)
    x_cal, x_eval, y_eval = calibration_data(source, params.calibration_samples, params.check)
    if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()) and x_cal.ndim == 2:
        side = int(math.isqrt(x_cal.shape[1]))
        if side * side != x_cal.shape[1]:
            raise ConversionError("give input_shape=1,C,H,W (with the batch dimension) for a conv model with flat "
                                  f"calibration data of {x_cal.shape[1]} values per row")
        x_cal = x_cal.reshape(-1, 1, side, side)
        x_eval = None if x_eval is None else x_eval.reshape(-1, 1, side, side)
    x_cal = np.ascontiguousarray(x_cal, dtype=np.float32)
    if params.check and x_eval is not None:
        check_input_shape(model, x_eval, where="mcu param 'check'")
    qmodel = quantize_model(model, x_cal)
    blob = pack(qmodel)
    limits = firmware_limits(params.firmware)
    check_fits(qmodel, blob, limits)  # here, not on the device: the numbers and the setting to change
    metrics: dict[str, Any] = {
        "blob_bytes": len(blob),
        "macs": qmodel.macs,
        "arena_bytes": qmodel.arena_bytes,
    }
    if params.evaluate and x_eval is not None:
        x_eval = np.ascontiguousarray(x_eval, dtype=np.float32)
        with torch.inference_mode():
            f_pred = model(torch.from_numpy(x_eval)).argmax(-1).numpy()
        q_in = reference.quantize(x_eval, qmodel.in_scale, qmodel.in_zero_point)
        if q_in.ndim == 4:
            q_in = q_in.transpose(0, 2, 3, 1)
        q_pred = reference.argmax(reference.run(qmodel, np.ascontiguousarray(q_in)))
        metrics["int8_float_top1_agreement"] = float((f_pred == q_pred).mean())
        metrics["eval_samples"] = int(len(x_eval))
        if y_eval is not None:
            metrics["float_accuracy"] = float((f_pred == y_eval).mean())
            metrics["int8_accuracy"] = float((q_pred == y_eval).mean())
    in_shape = ("N", *x_cal.shape[1:])
    inputs = [
        TensorSpec(
            "x", in_shape, "int8", {"scale": qmodel.in_scale, "zero_point": qmodel.in_zero_point, "bits": 8}
        )
    ]
    outputs = [
        TensorSpec(
            "logits",
            ("N", qmodel.out_size),
            "int8",
            {"scale": qmodel.out_scale, "zero_point": qmodel.out_zero_point, "bits": 8},
        )
    ]
    layer_summary = [
        {
            "type": layer.type.name,
            "in": list(layer.in_shape),
            "out": list(layer.out_shape),
            "macs": layer.macs,
        }
        for layer in qmodel.layers
    ]
    manifest = Manifest(
        format="mcu-blob",
        main="model.blob",
        inputs=inputs,
        outputs=outputs,
        metrics=metrics,
        extra={
            "layout": "NCHW->HWC" if qmodel.nchw else "flat",
            "blob_sha256": sha256_bytes(blob),
            "c_array": "model_blob.c",
            "layers": layer_summary,
            "firmware_limits": {"platform": limits.platform, "blob_capacity": limits.blob_capacity,
                                "arena_bytes": limits.arena_bytes, "max_payload": limits.max_payload,
                                "max_layers": limits.max_layers},
            "scheme": "int8 per-channel symmetric weights, per-tensor asymmetric activations, "
            "TFLite-Micro requantisation",
        },
    )

    (folder / "model.blob").write_bytes(blob)
    (folder / "model_blob.c").write_text(c_array(blob))
    return manifest


CONVERTER = Converter("mcu", McuParams, convert, reads=MODEL, writes="mcu-blob", version=VERSION)
