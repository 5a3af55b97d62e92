"""The firmware's six int8 layer kinds: one small frozen dataclass each, validated at construction.

Shapes are HWC; activations are int8 with ``real = scale * (q - zero_point)``. Each class's docstring
gives the integer arithmetic it stands for, exactly as ``firmware/src/ne_kernels.c`` and
``neuroedge.firmware_bridge.reference`` compute it, with

* ``requant(acc, mult, shift) ~= acc * mult * 2**(shift - 31)`` (TFLite-Micro / CMSIS-NN rounding);
* ``in_offset = -input zero point`` in [-127, 128] and ``out_offset = output zero point`` in [-128, 127];
* ``clamp`` to ``[act_min, act_max]``, a sub-range of int8 (a fused ReLU/ReLU6 narrows it).

Checks mirror the firmware's blob validator (``ne_model_parse``), so a layer that constructs is one the
firmware accepts, and a bad one is refused here with the field that is wrong.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np


class LayerType(enum.IntEnum):
    DENSE = 1
    CONV2D = 2
    DWCONV2D = 3
    RELU = 4
    MAXPOOL = 5
    AVGPOOL = 6


class BlobError(ValueError):
    """A layer, model or blob the firmware would refuse; the message names the field."""


Shape = tuple[int, int, int]
Pair = tuple[int, int]


def _shape(layer: Any, name: str, n: int) -> None:
    value = tuple(int(v) for v in getattr(layer, name))
    if len(value) != n or not all(1 <= v <= 4096 for v in value[: 3 if n == 3 else 2]):
        raise BlobError(f"{layer.type.name}: {name} {value} must be {n} sizes in [1, 4096]")
    object.__setattr__(layer, name, value)


def _window(layer: Any) -> None:
    """kernel, stride and pad of a conv or pool, and the floor-mode output size they give."""
    _shape(layer, "kernel", 2)
    _shape(layer, "stride", 2)
    pad = tuple(int(v) for v in layer.pad)
    if len(pad) != 2 or not all(0 <= p < k for p, k in zip(pad, layer.kernel, strict=True)):
        raise BlobError(f"{layer.type.name}: pad {pad} must be 2 values in [0, kernel)")
    object.__setattr__(layer, "pad", pad)
    want = tuple((i + 2 * p - k) // s + 1 for i, p, k, s in
                 zip(layer.in_shape[:2], pad, layer.kernel, layer.stride, strict=True))
    if want != layer.out_shape[:2]:
        raise BlobError(f"{layer.type.name}: out_shape {layer.out_shape} but kernel {layer.kernel}, stride "
                        f"{layer.stride}, pad {pad} on {layer.in_shape} give {want} (H, W)")


def _clamp(layer: Any) -> None:
    if not -128 <= layer.act_min <= layer.act_max <= 127:
        raise BlobError(f"{layer.type.name}: activation range [{layer.act_min}, {layer.act_max}] is not int8")


def _requant(layer: Any, weight_shape: tuple[int, ...], taps: int) -> None:
    """bias/mult/shift per output channel, int8 weights, and an int32 accumulator that cannot overflow."""
    oc = layer.out_shape[2]
    for name in ("bias", "mult", "shift"):
        arr = np.asarray(getattr(layer, name), dtype=np.int64).reshape(-1)
        if arr.size != oc or arr.min() < -(2**31) or arr.max() >= 2**31:
            raise BlobError(f"{layer.type.name}: {name} needs {oc} int32 values")
        arr = arr.astype(np.int32)
        arr.flags.writeable = False  # frozen means frozen: no edit behind the checks
        object.__setattr__(layer, name, arr)
    if ((layer.mult != 0) & (layer.mult < 2**30)).any() or (layer.mult < 0).any():
        raise BlobError(f"{layer.type.name}: mult must be 0 (an underflowed scale) or in [2^30, 2^31)")
    if layer.shift.min() < -31 or layer.shift.max() > 30:
        raise BlobError(f"{layer.type.name}: shifts must lie in [-31, 30]")
    if not (-127 <= layer.in_offset <= 128 and -128 <= layer.out_offset <= 127):
        raise BlobError(f"{layer.type.name}: in_offset {layer.in_offset} must be in [-127, 128] and out_offset "
                        f"{layer.out_offset} in [-128, 127] (minus the input / the output zero point)")
    w = np.asarray(layer.weights)
    if w.dtype != np.int8 or w.shape != weight_shape:
        raise BlobError(f"{layer.type.name}: weights must be int8 of shape {weight_shape}, got {w.dtype} {w.shape}")
    w = w.copy()
    w.flags.writeable = False
    object.__setattr__(layer, "weights", w)
    if taps * 256 * 128 + int(np.abs(layer.bias.astype(np.int64)).max(initial=0)) >= 2**31:
        raise BlobError(f"{layer.type.name}: the int32 accumulator could overflow ({taps} taps)")
    _clamp(layer)


@dataclass(frozen=True)
class Dense:
    """``y[o] = clamp(requant(bias[o] + sum_i (x[i] + in_offset) * W[o, i], mult[o], shift[o]) + out_offset)``.

    ``x`` is the whole input flattened in HWC order; ``W`` is int8 ``[out_c, in_h*in_w*in_c]``; the
    output is ``(1, 1, out_c)``.
    """

    in_shape: Shape
    out_shape: Shape
    weights: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    in_offset: int = 0
    out_offset: int = 0
    act_min: int = -128
    act_max: int = 127
    type: ClassVar[LayerType] = LayerType.DENSE
    kernel: ClassVar[Pair] = (1, 1)
    stride: ClassVar[Pair] = (1, 1)
    pad: ClassVar[Pair] = (0, 0)

    def __post_init__(self) -> None:
        _shape(self, "in_shape", 3)
        _shape(self, "out_shape", 3)
        if self.out_shape[:2] != (1, 1):
            raise BlobError(f"DENSE: out_shape {self.out_shape} must be (1, 1, out_c)")
        n_in = int(np.prod(self.in_shape))
        _requant(self, (self.out_shape[2], n_in), n_in)

    @property
    def macs(self) -> int:
        return self.out_shape[2] * int(np.prod(self.in_shape))


@dataclass(frozen=True)
class _Convolution:
    """The fields of both convolutions (their maths and weight layouts differ; see each)."""

    in_shape: Shape
    out_shape: Shape
    kernel: Pair
    stride: Pair
    pad: Pair
    weights: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    in_offset: int = 0
    out_offset: int = 0
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class Conv2d(_Convolution):
    """``y[p, o] = clamp(requant(bias[o] + sum_{ky,kx,c} (x[p*stride + k - pad, c] + in_offset) * W[o,ky,kx,c]))``.

    ``W`` is int8 ``[out_c, k_h, k_w, in_c]`` (TFLite OHWI). Taps outside the input add nothing, as if
    padded with the input zero point; ``out_h = (in_h + 2 pad_h - k_h) // stride_h + 1`` (floor mode).
    """

    type: ClassVar[LayerType] = LayerType.CONV2D

    def __post_init__(self) -> None:
        _shape(self, "in_shape", 3)
        _shape(self, "out_shape", 3)
        _window(self)
        kh, kw = self.kernel
        _requant(self, (self.out_shape[2], kh, kw, self.in_shape[2]), kh * kw * self.in_shape[2])

    @property
    def macs(self) -> int:
        oh, ow, oc = self.out_shape
        return oh * ow * oc * self.kernel[0] * self.kernel[1] * self.in_shape[2]


@dataclass(frozen=True)
class DepthwiseConv2d(_Convolution):
    """``y[p, o] = clamp(requant(bias[o] + sum_{ky,kx} (x[p*stride + k - pad, o // m] + in_offset) * W[ky,kx,o]))``.

    ``m = out_c / in_c`` is the depth multiplier (an integer); ``W`` is int8 ``[k_h, k_w, out_c]``.
    Padding and output size as ``Conv2d``.
    """

    type: ClassVar[LayerType] = LayerType.DWCONV2D

    def __post_init__(self) -> None:
        _shape(self, "in_shape", 3)
        _shape(self, "out_shape", 3)
        if self.out_shape[2] % self.in_shape[2]:
            raise BlobError(f"DWCONV2D: out_c {self.out_shape[2]} is not a multiple of in_c {self.in_shape[2]}")
        _window(self)
        kh, kw = self.kernel
        _requant(self, (kh, kw, self.out_shape[2]), kh * kw)

    @property
    def macs(self) -> int:
        oh, ow, oc = self.out_shape
        return oh * ow * oc * self.kernel[0] * self.kernel[1]


@dataclass(frozen=True)
class _Elementwise:
    """Shared by the layers without weights: shapes, window and clamp checks, no MACs."""

    def _check(self, window: bool) -> None:
        _shape(self, "in_shape", 3)
        _shape(self, "out_shape", 3)
        if window:
            if self.out_shape[2] != self.in_shape[2]:
                raise BlobError(f"{self.type.name}: out_c {self.out_shape[2]} must equal in_c {self.in_shape[2]}")
            _window(self)
        _clamp(self)

    @property
    def macs(self) -> int:
        return 0


@dataclass(frozen=True)
class ReLU(_Elementwise):
    """``y = clamp(x, act_min, act_max)``: in int8, a ReLU is a clamp at the zero point (ReLU6 also caps)."""

    in_shape: Shape
    out_shape: Shape
    act_min: int = -128
    act_max: int = 127
    type: ClassVar[LayerType] = LayerType.RELU
    kernel: ClassVar[Pair] = (1, 1)
    stride: ClassVar[Pair] = (1, 1)
    pad: ClassVar[Pair] = (0, 0)

    def __post_init__(self) -> None:
        self._check(window=False)
        if self.in_shape != self.out_shape:
            raise BlobError(f"RELU: out_shape {self.out_shape} must equal in_shape {self.in_shape}")


@dataclass(frozen=True)
class _Pool(_Elementwise):
    """The fields of both pools: a window over each channel; scale and zero point pass through."""

    in_shape: Shape
    out_shape: Shape
    kernel: Pair
    stride: Pair
    pad: Pair = (0, 0)
    act_min: int = -128
    act_max: int = 127

    def __post_init__(self) -> None:
        self._check(window=True)


@dataclass(frozen=True)
class MaxPool2d(_Pool):
    """``y[p, c] = clamp(max_{valid k} x[p*stride + k - pad, c])``; scale and zero point pass through."""

    type: ClassVar[LayerType] = LayerType.MAXPOOL


@dataclass(frozen=True)
class AvgPool2d(_Pool):
    """``y[p, c] = clamp(round(s / n))`` with ``s`` the sum over the ``n`` valid taps (padding not counted).

    Rounding is half away from zero in C's truncating division: ``(s + n//2) / n`` for ``s > 0``, else
    ``(s - n//2) / n``. The window holds at most 65536 taps, so the int32 sum cannot overflow.
    """

    type: ClassVar[LayerType] = LayerType.AVGPOOL

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kernel[0] * self.kernel[1] > 65536:
            raise BlobError(f"AVGPOOL: a {self.kernel} window has more than 65536 taps")


Layer = Dense | Conv2d | DepthwiseConv2d | ReLU | MaxPool2d | AvgPool2d
KINDS: dict[LayerType, type] = {k.type: k for k in (Dense, Conv2d, DepthwiseConv2d, ReLU, MaxPool2d, AvgPool2d)}
WEIGHTED = (LayerType.DENSE, LayerType.CONV2D, LayerType.DWCONV2D)


def make_layer(ltype: LayerType | int, **record: Any) -> Layer:
    """The layer of kind ``ltype`` from a blob record's fields (those the kind does not have are ignored)."""
    try:
        cls = KINDS[LayerType(ltype)]
    except ValueError:
        raise BlobError(f"unknown layer type {ltype}") from None
    return cls(**{f.name: record[f.name] for f in fields(cls) if f.name in record})
