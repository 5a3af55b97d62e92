"""Converter ``mcu``: a float PyTorch model -> full-integer INT8 model blob (+ a C array) for the firmware.

Post-training quantisation, calibrated (the TFLite-Micro / CMSIS-NN int8 scheme):

* weights: symmetric per output channel, ``s_w[o] = max|W[o]| / 127``, ``Wq = round(W / s_w)``;
* activations: asymmetric per tensor from the calibration min/max (widened to contain 0),
  ``s = (max - min) / 255``, ``zp = round(-128 - min / s)``;
* bias: int32, ``round(b / (s_in * s_w[o]))``;
* requantisation: ``M[o] = s_in * s_w[o] / s_out = mult * 2**(shift - 31)`` with ``mult`` in
  [2^30, 2^31) (``math.frexp``), which is what ``ne_requant`` and ``reference.requant`` compute;
* ReLU/ReLU6 after a layer fold into its output clamp; BatchNorm2d after a conv folds into it;
  ``Flatten`` after a conv permutes the next Linear's columns from CHW to the firmware's HWC.

Supported layers: Linear, Conv2d (groups 1 or depthwise), BatchNorm2d, ReLU, ReLU6, MaxPool2d,
AvgPool2d, AdaptiveAvgPool2d(1), Flatten, Dropout, Identity, in a plain chain. A model quantised
for weights only (torch dynamic quantisation, brevitas without activation quantisers) is refused:
the firmware runs INT8 activations, so it needs calibrated activation scales.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroedge.bundle import ChainStep, Manifest, TensorSpec, save, sha256_bytes
from neuroedge.firmware_bridge import reference
from neuroedge.firmware_bridge.blob import Layer, LayerType, Model, c_array, pack
from neuroedge.registry import Converter, params_to_json

VERSION = "0.1.0"
FULL_INT_COMMAND = (
    "neuroedge convert mcu <float model, e.g. examples.digits.models:digits_mlp> "
    "--param weights=<state_dict.pt> --param calibration=digits -o <out>"
)


class ConversionError(ValueError):
    """The model cannot become a full-integer firmware model; the message says why and what to do."""


@dataclass
class McuParams:
    calibration: str = "digits"  # "digits" (sklearn digits train split) or a .npy of float inputs [N, ...]
    calibration_samples: int = 512
    input_shape: tuple[int, ...] = ()  # one sample's shape; inferred from the calibration data
    weights: str = ""  # a state_dict for a "package.module:factory" model reference
    evaluate: bool = True  # report float vs int8 top-1 agreement (and accuracy on digits' test split)

    def __post_init__(self) -> None:
        if self.calibration_samples < 1:
            raise ValueError("calibration_samples must be >= 1")


# ---- refusing what is not full-integer --------------------------------------------------------------


def _check_full_integer_possible(model: Any) -> None:
    names = [type(m).__module__ + "." + type(m).__name__ for m in model.modules()]
    if any(".quantized.dynamic." in n for n in names):
        raise ConversionError(
            "refused: this model is dynamically quantised (INT8 weights, float activations), which a "
            "microcontroller cannot run as INT8. Make a full-integer model from the float model with: "
            + FULL_INT_COMMAND
        )
    brevitas = [n for n in names if n.startswith("brevitas.")]
    if brevitas:
        act = [
            m
            for m in model.modules()
            if type(m).__name__ in ("QuantReLU", "QuantIdentity", "QuantHardTanh")
            or getattr(getattr(m, "input_quant", None), "is_quant_enabled", False)
            or getattr(getattr(m, "output_quant", None), "is_quant_enabled", False)
        ]
        if not act:
            raise ConversionError(
                "refused: this brevitas model quantises weights only; its activations are float, so there "
                "are no calibrated activation scales for INT8 firmware. Make a full-integer model with: "
                + FULL_INT_COMMAND
            )
        raise ConversionError(
            "brevitas models with activation quantisers are not imported by the mcu converter yet; "
            "convert the float model instead: " + FULL_INT_COMMAND
        )
    if any(".quantized." in n and ".dynamic." not in n for n in names):
        raise ConversionError(
            "torch eager-mode int8 modules are not imported yet; give the float model and let the mcu "
            "converter calibrate it: " + FULL_INT_COMMAND
        )


# ---- calibration data -------------------------------------------------------------------------------


def _calibration(params: McuParams) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(calibration inputs, eval inputs, eval labels)."""
    if params.calibration == "digits":
        from neuroedge.data.digits import load_digits_split

        x_tr, _, x_te, y_te = load_digits_split()
        return x_tr[: params.calibration_samples], x_te, y_te
    path = Path(params.calibration)
    if path.suffix != ".npy" or not path.is_file():
        raise ConversionError(f"calibration {params.calibration!r}: give 'digits' or an existing .npy file")
    x = np.load(path, allow_pickle=False).astype(np.float32)
    return x[: params.calibration_samples], x, None


# ---- quantisation maths -----------------------------------------------------------------------------


def quantize_multiplier(m: float) -> tuple[int, int]:
    """``m = mult * 2**(shift - 31)`` with mult in [2^30, 2^31) (0, 0 when m underflows)."""
    if m <= 0:
        return 0, 0
    q, e = math.frexp(m)
    mult = round(q * (1 << 31))
    if mult == 1 << 31:
        mult //= 2
        e += 1
    if e < -31:
        return 0, 0
    if e > 30:
        raise ConversionError(
            f"requantisation multiplier {m:g} is too large for int8 (scales are inconsistent)"
        )
    return mult, e


def act_qparams(lo: float, hi: float) -> tuple[float, int]:
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0 or 1e-8
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zp


@dataclass
class _Op:
    kind: str  # dense | conv | dwconv | relu | maxpool | avgpool | flatten
    module: Any = None
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    relu_max: float | None = None  # 0 < relu_max: fused ReLU6-style; inf: fused ReLU; None: no activation


def _leaves(model: Any) -> list[Any]:
    return [m for m in model.modules() if not list(m.children())]


def _plan(model: Any, x_cal: Any) -> list[_Op]:
    """Turn the chain of leaf modules into ops, folding BN and activations. Checks it *is* a chain."""
    import torch
    from torch import nn

    leaves = _leaves(model)
    with torch.inference_mode():
        h = x_cal
        for m in leaves:
            h = m(h)
        if not torch.allclose(h, model(x_cal), rtol=1e-4, atol=1e-5):
            raise ConversionError(
                "the model is not a plain chain of its layers (forward() does more); "
                "the mcu converter needs a sequential model"
            )
    ops: list[_Op] = []
    for m in leaves:
        if isinstance(m, (nn.Dropout, nn.Identity)):
            continue
        if isinstance(m, nn.Linear):
            ops.append(
                _Op(
                    "dense",
                    m,
                    m.weight.detach().double().numpy(),
                    None if m.bias is None else m.bias.detach().double().numpy(),
                )
            )
        elif isinstance(m, nn.Conv2d):
            if m.dilation != (1, 1) or m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise ConversionError(f"{m}: only zero padding given as ints and dilation 1 are supported")
            depthwise = m.groups == m.in_channels and m.groups > 1
            if m.groups != 1 and not depthwise:
                raise ConversionError(f"{m}: grouped convolutions other than depthwise are not supported")
            ops.append(
                _Op(
                    "dwconv" if depthwise else "conv",
                    m,
                    m.weight.detach().double().numpy(),
                    None if m.bias is None else m.bias.detach().double().numpy(),
                )
            )
        elif isinstance(m, nn.BatchNorm2d):
            if not ops or ops[-1].kind not in ("conv", "dwconv") or ops[-1].relu_max is not None:
                raise ConversionError(f"{m}: BatchNorm2d must follow a conv directly")
            op = ops[-1]
            g = (m.weight.detach().double().numpy() if m.affine else 1.0) / np.sqrt(
                m.running_var.double().numpy() + m.eps
            )
            beta = m.bias.detach().double().numpy() if m.affine else 0.0
            b = op.bias if op.bias is not None else 0.0
            op.weight = op.weight * g.reshape(-1, 1, 1, 1)
            op.bias = (b - m.running_mean.double().numpy()) * g + beta
        elif isinstance(m, (nn.ReLU, nn.ReLU6)):
            cap = 6.0 if isinstance(m, nn.ReLU6) else math.inf
            if ops and ops[-1].kind in ("dense", "conv", "dwconv") and ops[-1].relu_max is None:
                ops[-1].relu_max = cap
            else:
                ops.append(_Op("relu", m, relu_max=cap))
        elif isinstance(m, nn.MaxPool2d):
            ops.append(_Op("maxpool", m))
        elif isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            ops.append(_Op("avgpool", m))
        elif isinstance(m, nn.Flatten):
            ops.append(_Op("flatten", m))
        else:
            raise ConversionError(
                f"layer {type(m).__name__} is not supported by the mcu firmware "
                "(supported: Linear, Conv2d, depthwise Conv2d, BatchNorm2d, ReLU, ReLU6, "
                "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), Flatten, Dropout)"
            )
    return ops


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _float_forward(op: _Op, h: np.ndarray, shape_chw: tuple[int, ...]) -> np.ndarray:
    """Float reference of one op on NCHW / flat data (what calibration observes)."""
    import torch

    t = torch.from_numpy(h)
    with torch.inference_mode():
        if op.kind == "dense":
            y = t.reshape(t.shape[0], -1) @ torch.from_numpy(op.weight).T
            y = y + (torch.from_numpy(op.bias) if op.bias is not None else 0)
        elif op.kind in ("conv", "dwconv"):
            m = op.module
            y = torch.nn.functional.conv2d(
                t,
                torch.from_numpy(op.weight),
                None if op.bias is None else torch.from_numpy(op.bias),
                m.stride,
                m.padding,
                1,
                m.groups,
            )
        elif op.kind == "relu":
            y = t
        else:
            y = op.module.double()(t)
        if op.relu_max is not None:
            y = y.clamp(0, op.relu_max)
    return y.numpy()


def quantize_model(model: Any, x_cal: np.ndarray) -> Model:
    """Calibrate ``model`` on ``x_cal`` (float, the model's own input layout) and build the int8 Model."""
    import torch

    model = model.eval()
    _check_full_integer_possible(model)
    ops = _plan(model, torch.from_numpy(x_cal))
    h = x_cal.astype(np.float64)
    s_in, zp_in = act_qparams(h.min(), h.max())
    in_scale, in_zp = s_in, zp_in
    nchw = h.ndim == 4
    shape = h.shape[1:]  # CHW or (features,)
    unflat: tuple[int, ...] | None = None  # the CHW shape a Flatten consumed, for the next Linear
    layers: list[Layer] = []

    def hwc(s: tuple[int, ...]) -> tuple[int, int, int]:
        return (s[1], s[2], s[0]) if len(s) == 3 else (1, 1, int(np.prod(s)))

    for op in ops:
        if op.kind == "flatten":
            unflat = shape if len(shape) == 3 else None
            shape = (int(np.prod(shape)),)
            continue
        y = _float_forward(op, h, shape)
        out_shape = y.shape[1:]
        if op.kind in ("dense", "conv", "dwconv"):
            s_out, zp_out = act_qparams(y.min(), y.max())
            w = op.weight
            oc = w.shape[0]
            s_w = np.abs(w.reshape(oc, -1)).max(axis=1) / 127.0
            s_w[s_w == 0] = 1.0
            wq = np.clip(np.round(w / s_w.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127).astype(np.int8)
            b = op.bias if op.bias is not None else np.zeros(oc)
            bq = np.round(b / (s_in * s_w)).astype(np.int64)
            mults, shifts = zip(*(quantize_multiplier(s_in * sw / s_out) for sw in s_w), strict=True)
            lo, hi = -128, 127
            if op.relu_max is not None:
                lo = max(lo, zp_out)
                if math.isfinite(op.relu_max):
                    hi = min(hi, zp_out + round(op.relu_max / s_out))
            if op.kind == "dense":
                if len(shape) != 1:
                    raise ConversionError(f"{op.module}: a Linear needs a flat input; add nn.Flatten()")
                if unflat is not None:  # torch flattened CHW; the firmware's activations are HWC
                    c, hh, ww = unflat
                    wq = wq.reshape(oc, c, hh, ww).transpose(0, 2, 3, 1).reshape(oc, -1)
                    unflat = None
                ltype, kernel, stride, pad = LayerType.DENSE, (1, 1), (1, 1), (0, 0)
                weights = np.ascontiguousarray(wq.reshape(oc, -1))
                in_hwc, out_hwc = hwc(shape), (1, 1, oc)
            else:
                m = op.module
                kernel, stride, pad = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding)
                if op.kind == "conv":
                    ltype, weights = LayerType.CONV2D, np.ascontiguousarray(wq.transpose(0, 2, 3, 1))
                else:  # torch [out, 1, kh, kw] -> [kh, kw, out]
                    ltype, weights = LayerType.DWCONV2D, np.ascontiguousarray(wq[:, 0].transpose(1, 2, 0))
                in_hwc, out_hwc = hwc(shape), hwc(out_shape)
            taps = int(np.prod(weights.shape[1:])) if ltype != LayerType.DWCONV2D else kernel[0] * kernel[1]
            if taps * 256 * 128 + int(np.abs(bq).max(initial=0)) >= 2**31:  # the firmware checks the same
                raise ConversionError(f"{op.module}: the int32 accumulator could overflow ({taps} taps)")
            layers.append(
                Layer(
                    ltype,
                    in_hwc,
                    out_hwc,
                    kernel,
                    stride,
                    pad,
                    in_offset=-zp_in,
                    out_offset=zp_out,
                    act_min=lo,
                    act_max=hi,
                    bias=bq,
                    mult=np.array(mults),
                    shift=np.array(shifts),
                    weights=weights,
                )
            )
            s_in, zp_in = s_out, zp_out
        elif op.kind == "relu":
            hi = 127 if not math.isfinite(op.relu_max) else min(127, zp_in + round(op.relu_max / s_in))
            layers.append(Layer(LayerType.RELU, hwc(shape), hwc(shape), act_min=max(-128, zp_in), act_max=hi))
        else:  # pools keep the input's scale and zero point (as TFLite requires)
            m = op.module
            if op.kind == "avgpool" and not hasattr(m, "kernel_size"):
                if tuple(_pair(m.output_size)) != (1, 1):
                    raise ConversionError(f"{m}: only AdaptiveAvgPool2d(1) is supported")
                kernel, stride, pad = (shape[1], shape[2]), (1, 1), (0, 0)
            else:
                kernel, pad = _pair(m.kernel_size), _pair(m.padding)
                stride = _pair(m.stride if m.stride is not None else m.kernel_size)
                if getattr(m, "ceil_mode", False) or (op.kind == "maxpool" and _pair(m.dilation) != (1, 1)):
                    raise ConversionError(f"{m}: ceil_mode and dilation are not supported")
                if op.kind == "avgpool" and any(pad) and m.count_include_pad:
                    raise ConversionError(f"{m}: padded average pooling needs count_include_pad=False")
            ltype = LayerType.MAXPOOL if op.kind == "maxpool" else LayerType.AVGPOOL
            layers.append(Layer(ltype, hwc(shape), hwc(out_shape), kernel, stride, pad))
        shape = out_shape
        h = y
    if not layers:
        raise ConversionError("the model has no layers the firmware can run")
    return Model(layers, in_scale, in_zp, s_in, zp_in, nchw=nchw)


# ---- the converter ----------------------------------------------------------------------------------


def _resolve(source: Any, params: McuParams) -> tuple[Any, str]:
    from torch import nn

    from neuroedge.modelref import load_model, model_hash

    if isinstance(source, nn.Module):
        return source, model_hash(source)
    if not isinstance(source, (str, Path)):
        raise ConversionError(
            f"the mcu converter takes a float PyTorch model (a module or a model reference), got "
            f"{type(source).__name__}; a bundle of weight-only or fake-quant ONNX cannot become INT8 "
            "firmware: "
            + FULL_INT_COMMAND
        )
    loaded = load_model(source, weights=params.weights or None)
    return loaded.module, model_hash(loaded.module)


def convert(source: Any, params: McuParams, out: Path, force: bool = False):
    import torch

    model, src_hash = _resolve(source, params)
    x_cal, x_eval, y_eval = _calibration(params)
    if params.input_shape:
        x_cal = x_cal.reshape((-1, *params.input_shape))
        if x_eval is not None:
            x_eval = x_eval.reshape((-1, *params.input_shape))
    elif any(isinstance(m, torch.nn.Conv2d) for m in model.modules()) and x_cal.ndim == 2:
        side = int(math.isqrt(x_cal.shape[1]))
        if side * side != x_cal.shape[1]:
            raise ConversionError("give input_shape (C,H,W) for a conv model with flat calibration data")
        x_cal = x_cal.reshape(-1, 1, side, side)
        x_eval = None if x_eval is None else x_eval.reshape(-1, 1, side, side)
    x_cal = np.ascontiguousarray(x_cal, dtype=np.float32)
    qmodel = quantize_model(model, x_cal)
    blob = pack(qmodel)
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
        chain=[ChainStep("mcu", VERSION, params_to_json(params), src_hash)],
        metrics=metrics,
        extra={
            "layout": "NCHW->HWC" if qmodel.nchw else "flat",
            "blob_sha256": sha256_bytes(blob),
            "c_array": "model_blob.c",
            "layers": layer_summary,
            "scheme": "int8 per-channel symmetric weights, per-tensor asymmetric activations, "
            "TFLite-Micro requantisation",
        },
    )

    def writer(folder: Path) -> None:
        (folder / "model.blob").write_bytes(blob)
        (folder / "model_blob.c").write_text(c_array(blob))

    return save(out, manifest, writer, force=force)


CONVERTER = Converter(
    name="mcu",
    summary="full-integer INT8 model (calibrated PTQ) -> microcontroller firmware blob + C array",
    params=McuParams,
    convert=convert,
    accepts="model",
    version=VERSION,
)
