"""Loihi fixed point: 8-bit weights, a weight exponent for Dense, thresholds and biases in range.

For a normalised layer (``W'``, ``b'`` in threshold units, see ``layers.QuantLayer``)::

    m      = max |W'|
    vth    = round(254 * 2^weight_exp / m)        (the largest weight maps to the 8-bit mantissa 127)
    w      = 2 * clip(round(W' * vth / 2^(weight_exp + 1)), -128, 127)      (even, as Lava's Dense keeps them)
    bias   = round(b' * vth * 64) = bias_mant << bias_exp, with bias_mant 13-bit signed, bias_exp in [0, 7]

Dense: ``weight_exp`` is 0 unless vth would exceed ``VTH_CAP`` (small weights), then it goes
negative until vth fits; the cap keeps the threshold (vth << 6) at most 2^19, so the 24-bit
membrane has 16x headroom above it. Conv: Lava ignores ``weight_exp``, so it stays 0 and the
scale lives in vth (and bias) alone; a conv whose weights are tiny gets vth = VTH_CAP and uses fewer
mantissa bits. Weights too large for vth >= 1 (m > 254) are clipped, with a warning.

Lava layout (``to_network``): activations XYC, conv kernels ``[out, kx, ky, in]`` flipped (true
convolution), dense columns permuted from torch's CHW flattening to XYC.
"""

from __future__ import annotations

import warnings

import numpy as np

from neuroedge.converters.snn.layers import FloatLayer, QuantLayer
from neuroedge.snn.network import ConvLayer, DenseLayer, LIFParams, SNNNetwork

VTH_CAP = 8192


class RepresentationWarning(UserWarning):
    """A weight or bias had to be clipped to fit Loihi's ranges."""


def quantise_layer(layer: FloatLayer) -> QuantLayer:
    """One normalised layer in Loihi fixed point (see the module docstring)."""
    m = float(np.abs(layer.weight).max()) or 1e-12
    wexp = 0
    vth = 254.0 / m
    if layer.kind == "dense":
        while vth > VTH_CAP and wexp > -8:
            wexp -= 1
            vth = 254.0 * 2.0 ** wexp / m
    vth_i = int(np.clip(np.rint(vth), 1, VTH_CAP))
    if vth < 0.5:
        warnings.warn(f"{layer.name}: normalised weights up to {m:.3g} exceed what 8 bits hold at vth=1; "
                      "clipping them", RepresentationWarning, stacklevel=2)
    w8 = np.rint(layer.weight * vth_i / 2.0 ** (wexp + 1))
    w8 = np.clip(w8, -128, 127).astype(np.int32)
    bias_v = layer.bias * vth_i * 64.0
    bmax = float(np.abs(bias_v).max()) if bias_v.size else 0.0
    bexp = 0
    while bexp < 7 and bmax / 2.0 ** bexp > 4095:
        bexp += 1
    mant = np.rint(bias_v / 2.0 ** bexp)
    if np.abs(mant).max(initial=0) > 4096:
        warnings.warn(f"{layer.name}: biases up to {bmax / (vth_i * 64):.3g} thresholds per step exceed the "
                      "13-bit mantissa at bias_exp 7; clipping them", RepresentationWarning, stacklevel=2)
    mant = np.clip(mant, -4096, 4095).astype(np.int32)
    return QuantLayer(layer.name, layer.kind, 2 * w8, wexp, vth_i, mant, bexp, layer.in_shape,
                      layer.stride, layer.padding)


def quantise(layers: list[FloatLayer]) -> list[QuantLayer]:
    return [quantise_layer(layer) for layer in layers]


def chw_to_xyc_permutation(shape: tuple[int, int, int]) -> np.ndarray:
    """perm[j] = the torch (CHW) flat index of Lava's (XYC) flat index j."""
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(2, 1, 0).reshape(-1)


def to_network(qlayers: list[QuantLayer], input_shape: tuple[int, ...], input_scale: float,
               output_scale: float, reset: str = "subtract", meta: dict | None = None,
               v_init: float = 0.5) -> SNNNetwork:
    """Lava-layout network from torch-layout quantised layers (``input_shape`` without batch).

    ``v_init``: each neuron starts a sample at this fraction of its threshold. Half a threshold turns
    the rate code's floor into rounding: with v starting at 0 an IF neuron's count after T steps is
    ``floor(T r)``, biased low by half a spike per layer, which compounds through deep networks at
    small T (Bu et al. 2022, "Optimal ANN-SNN conversion", ICLR).
    """
    layers = []
    prev_shape = tuple(input_shape)
    for q in qlayers:
        if q.kind == "conv":
            c, h, w = q.in_shape
            kernel = q.weight.transpose(0, 3, 2, 1)[:, ::-1, ::-1, :]  # [O, kx, ky, I], flipped
            oc, oh, ow = q.out_shape
            bias = np.tile(q.bias_mant, ow * oh)  # XYC: channel fastest
            lif = LIFParams(vth=q.vth, bias_mant=bias, bias_exp=q.bias_exp, reset=reset,
                            v_init=int(round(v_init * (q.vth << 6))))
            layers.append(ConvLayer(q.name, np.ascontiguousarray(kernel), (w, h, c), (q.stride[1], q.stride[0]),
                                    (q.padding[1], q.padding[0]), lif))
        else:
            weight = q.weight
            if len(prev_shape) == 3:
                weight = weight[:, chw_to_xyc_permutation(prev_shape)]
            lif = LIFParams(vth=q.vth, bias_mant=q.bias_mant, bias_exp=q.bias_exp, reset=reset,
                            v_init=int(round(v_init * (q.vth << 6))))
            layers.append(DenseLayer(q.name, weight, q.weight_exp, lif))
        prev_shape = q.out_shape
    in_shape = tuple(input_shape)
    net_in = (in_shape[2], in_shape[1], in_shape[0]) if len(in_shape) == 3 else (int(np.prod(in_shape)),)
    return SNNNetwork(net_in, tuple(layers), float(input_scale), float(output_scale),
                      "xyc" if len(in_shape) == 3 else "flat", dict(meta or {}))
