"""The converter's own layers, in torch's layout (CHW, cross-correlation kernels).

Conversion goes DNN -> ``FloatLayer`` (BN folded, data-normalised) -> ``QuantLayer`` (Loihi fixed
point) -> ``neuroedge.snn.network`` layers in Lava's layout. Keeping the torch layout up
to the last step lets the float SNN, the layer report and the NIR export use torch's conventions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


def _out_shape(kind: str, in_shape: tuple[int, ...], weight_shape: tuple[int, ...],
               stride: tuple[int, int], padding: tuple[int, int]) -> tuple[int, ...]:
    """Output shape of a dense layer ([out]) or a conv layer ([out, H', W'], H' = (H + 2p - k) // s + 1)."""
    if kind == "dense":
        return (int(weight_shape[0]),)
    _, h, w = in_shape
    kh, kw = weight_shape[2:]
    return (int(weight_shape[0]), (h + 2 * padding[0] - kh) // stride[0] + 1,
            (w + 2 * padding[1] - kw) // stride[1] + 1)

@dataclass(frozen=True)
class FloatLayer:
    """One synaptic layer and the IF neurons after it, normalised so that 1.0 is the threshold.

    Rate model (Rueckauer et al. 2017): with ``lambda_l`` the ``p``-th percentile of layer l's
    positive DNN activations on calibration data (``lambda_0`` for the input),

        W'_l = W_l * lambda_{l-1} / lambda_l,    b'_l = b_l / lambda_l,

    so an IF neuron with threshold 1, reset by subtraction, fires at rate
    ``r_l = clip(W'_l r_{l-1} + b'_l, 0, 1) ~= relu(W_l a_{l-1} + b_l) / lambda_l``.
    ``kind``: "dense" (weight [out, in]) or "conv" (weight [out, in, kh, kw]; an AvgPool becomes a
    conv whose kernel is 1/k^2 on the diagonal of the channels, stride k, no bias).
    """

    name: str
    kind: Literal["dense", "conv"]
    weight: np.ndarray
    bias: np.ndarray
    scale: float  # lambda_l
    in_shape: tuple[int, ...]  # (C, H, W) or (n,)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    source: str = ""  # the DNN layer(s) it came from, e.g. "0:Conv2d+1:BatchNorm2d"

    def __post_init__(self) -> None:
        w = np.asarray(self.weight, dtype=np.float64)
        want = 2 if self.kind == "dense" else 4
        if w.ndim != want:
            raise ValueError(f"{self.name}: {self.kind} weight must be {want}-D, got {list(w.shape)}")
        if np.asarray(self.bias).shape != (w.shape[0],):
            raise ValueError(f"{self.name}: bias shape {np.asarray(self.bias).shape} != ({w.shape[0]},)")
        if not np.isfinite(w).all() or not np.isfinite(self.bias).all():
            raise ValueError(f"{self.name}: weights or bias are not finite")
        if not self.scale > 0:
            raise ValueError(f"{self.name}: scale must be > 0, got {self.scale}")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", np.asarray(self.bias, dtype=np.float64))

    @property
    def out_shape(self) -> tuple[int, ...]:
        return _out_shape(self.kind, self.in_shape, self.weight.shape, self.stride, self.padding)


@dataclass(frozen=True)
class QuantLayer:
    """A FloatLayer in Loihi fixed point, still in torch's layout.

    Per spike, a synapse adds ``w * 2^weight_exp`` to the dendrite (Lava: even ``w`` in [-256, 254],
    i.e. an 8-bit mantissa times 2); the soma sees ``a << 6``; the neuron fires when
    ``v > vth << 6``; the bias adds ``bias_mant << bias_exp`` per step. So, in threshold units,

        W'  ~=  w * 2^weight_exp * 64 / (vth * 64)  =  w * 2^weight_exp / vth
        b'  ~=  (bias_mant << bias_exp) / (vth * 64)

    Conv layers have ``weight_exp = 0`` always: Lava's Conv ignores it, so their scale is in vth.
    """

    name: str
    kind: Literal["dense", "conv"]
    weight: np.ndarray  # int, torch layout
    weight_exp: int
    vth: int
    bias_mant: np.ndarray  # int, one per output neuron (channel biases broadcast over pixels)
    bias_exp: int
    in_shape: tuple[int, ...]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    def effective_weight(self) -> np.ndarray:
        """The weight in threshold units, as the fixed-point network applies it."""
        return self.weight.astype(np.float64) * 2.0 ** self.weight_exp / self.vth

    def effective_bias(self) -> np.ndarray:
        return (self.bias_mant.astype(np.float64) * 2.0 ** self.bias_exp) / (self.vth * 64.0)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return _out_shape(self.kind, self.in_shape, self.weight.shape, self.stride, self.padding)
