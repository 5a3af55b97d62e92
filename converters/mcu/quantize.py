"""Quantisation: the chain of torch layers -> the firmware's typed int8 layers (TFLite-Micro / CMSIS-NN).

* weights: symmetric per output channel, ``s_w[o] = max|W[o]| / 127``, ``Wq = round(W / s_w)``;
* bias: int32, ``round(b / (s_in * s_w[o]))``;
* requantisation: ``M[o] = s_in * s_w[o] / s_out = mult * 2**(shift - 31)`` with ``mult`` in
  [2^30, 2^31) (``math.frexp``), which is what ``ne_requant`` and ``reference.requant`` compute;
* ReLU/ReLU6 after a layer fold into its output clamp; BatchNorm2d after a conv, and BatchNorm1d
  after a Linear, fold into it;
  ``Flatten`` after a conv permutes the next Linear's columns from CHW to the firmware's HWC;
* pools keep their input's scale and zero point (as TFLite requires).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroedge.firmware_bridge.blob import (
    AvgPool2d,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Layer,
    MaxPool2d,
    Model,
    ReLU,
)

from .calibrate import act_qparams, float_forward
from .check import ConversionError, check_full_integer_possible, check_input_shape, check_layers, leaves


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


@dataclass
class _Op:
    kind: str  # dense | conv | dwconv | relu | maxpool | avgpool | flatten
    module: Any = None
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    relu_max: float | None = None  # 0 < relu_max: fused ReLU6-style; inf: fused ReLU; None: no activation


def _plan(model: Any, x_cal: Any) -> list[_Op]:
    """Turn the chain of leaf modules into ops, folding BN and activations. Checks it *is* a chain."""
    import torch
    from torch import nn

    chain = [m for _, m in leaves(model)]
    not_a_chain = ConversionError(
        "the model is not a plain chain of its layers (its forward() does more: a residual add, a "
        "functional call, a reshape other than Flatten); the mcu converter needs a sequential model")
    with torch.inference_mode():
        h = x_cal
        try:  # leaves that do not fit one after the other are the same refusal, not torch's shape error
            for m in chain:
                h = m(h)
        except (RuntimeError, ValueError):
            raise not_a_chain from None
        if not torch.allclose(h, model(x_cal), rtol=1e-4, atol=1e-5):
            raise not_a_chain
    ops: list[_Op] = []
    for m in chain:
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
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            after = ("dense",) if isinstance(m, nn.BatchNorm1d) else ("conv", "dwconv")  # an MLP's BN is 1-d
            if not ops or ops[-1].kind not in after or ops[-1].relu_max is not None or not m.track_running_stats:
                what = "a Linear" if isinstance(m, nn.BatchNorm1d) else "a conv"
                raise ConversionError(f"{m}: {type(m).__name__} must follow {what} directly, with running statistics")
            op = ops[-1]
            g = (m.weight.detach().double().numpy() if m.affine else 1.0) / np.sqrt(
                m.running_var.double().numpy() + m.eps
            )
            beta = m.bias.detach().double().numpy() if m.affine else 0.0
            b = op.bias if op.bias is not None else 0.0
            op.weight = op.weight * np.reshape(g, (-1,) + (1,) * (op.weight.ndim - 1))
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
                "(supported: Linear, Conv2d, depthwise Conv2d, BatchNorm1d/2d, ReLU, ReLU6, "
                "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), Flatten, Dropout)"
            )
    return ops


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def quantize_model(model: Any, x_cal: np.ndarray) -> Model:
    """Calibrate ``model`` on ``x_cal`` (float, the model's own input layout) and build the int8 Model."""
    import torch

    model = model.eval()
    check_full_integer_possible(model)
    check_layers(model)  # before any forward: an LSTM's tuple output must not reach the next layer
    check_input_shape(model, x_cal)
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
        y = float_forward(op, h, shape)
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
                kernel, stride, pad = (1, 1), (1, 1), (0, 0)
                kind, weights = Dense, np.ascontiguousarray(wq.reshape(oc, -1))
                in_hwc, out_hwc = hwc(shape), (1, 1, oc)
            else:
                m = op.module
                kernel, stride, pad = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding)
                if op.kind == "conv":
                    kind, weights = Conv2d, np.ascontiguousarray(wq.transpose(0, 2, 3, 1))
                else:  # torch [out, 1, kh, kw] -> [kh, kw, out]
                    kind, weights = DepthwiseConv2d, np.ascontiguousarray(wq[:, 0].transpose(1, 2, 0))
                in_hwc, out_hwc = hwc(shape), hwc(out_shape)
            extra = {} if kind is Dense else {"kernel": kernel, "stride": stride, "pad": pad}
            try:  # the layer checks the int32 accumulator, as the firmware does
                layers.append(kind(in_hwc, out_hwc, weights=weights, bias=bq, mult=np.array(mults),
                                   shift=np.array(shifts), in_offset=-zp_in, out_offset=zp_out, act_min=lo,
                                   act_max=hi, **extra))
            except ValueError as exc:
                raise ConversionError(f"{op.module}: {exc}") from None
            s_in, zp_in = s_out, zp_out
        elif op.kind == "relu":
            hi = 127 if not math.isfinite(op.relu_max) else min(127, zp_in + round(op.relu_max / s_in))
            layers.append(ReLU(hwc(shape), hwc(shape), act_min=max(-128, zp_in), act_max=hi))
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
            pool = MaxPool2d if op.kind == "maxpool" else AvgPool2d
            layers.append(pool(hwc(shape), hwc(out_shape), kernel, stride, pad))
        shape = out_shape
        h = y
    if not layers:
        raise ConversionError("the model has no layers the firmware can run")
    return Model(layers, in_scale, in_zp, s_in, zp_in, nchw=nchw)
