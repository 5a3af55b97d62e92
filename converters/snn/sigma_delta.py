"""Normalised ReLU layers -> a Loihi 2 sigma-delta network with graded messages (Lava fixed point).

Every hidden layer's messages are in the same unit ``t = 2^-frac_bits`` of its activation scale
``lambda_l`` (the percentile of ``normalize``; activations are *not* clipped at it, unlike rate
coding), and so is the input (``q = round(x / lambda_0 * 2^frac_bits)``). For layer l, with
``u`` the unit of its incoming messages and ``m = max |W'|``::

    w_u       = m / 254                                    (every layer uses its 8 weight bits)
    w         = round(W' / w_u)     (Dense with both signs: 2 round(W' / 2 w_u), Lava keeps even weights)
    state_exp = clip(round(log2(t / (u w_u))), 0, 7)       (the shift that brings messages nearest t)
    if u w_u 2^state_exp < t / 32:  w_u = t / (32 u 2^state_exp)   (shift capped: fewer weight bits)
    sigma unit = u w_u,   message unit = u w_u 2^state_exp  (about t; at most 32x finer)
    bias      = round(b' / message unit),   vth = round(delta_threshold / message unit)

So a neuron's activation, in message units, is ``relu(W a + b) / t`` up to rounding, and Lava's
``SigmaDelta`` shifts the ``state_exp`` extra bits off each message (floor: the lost bits are not
resent, a bias of under one message unit per message). The output layer has ``state_exp = 0``,
``vth = 0`` and no ReLU, so its running sum is its exact pre-activation (the logits up to scale).
Conv layers need no ``weight_exp`` (which Lava's Conv ignores): the scale lives in ``state_exp``.
As ``state_exp`` stops at 7, a layer whose normalised weights are small (m ~ 0.1: wide conv
fan-ins, pools) cannot keep both 8-bit weights and message unit t: its messages get finer, down to
t / 32 (chosen on the gesture validation frames: t / 64 drove conv sums past Lava's 24-bit wrap),
and beyond that its weights lose bits. The floor of each message costs at most one message unit,
never resent, so long streams drift: ``snn-fast``/``loihi-sim`` reset the state per stream
(per recording in the benchmark).
The ``delta_threshold`` is in units of each layer's ``lambda`` (0.01: a change of 1% of the
99.9th-percentile activation); it trades accuracy for messages.
"""

from __future__ import annotations

import math

import numpy as np

from neuroedge.converters.snn.fixed_point import chw_to_xyc_permutation
from neuroedge.converters.snn.layers import FloatLayer
from neuroedge.snn.network import ConvLayer, DenseLayer, SNNNetwork
from neuroedge.snn.sigma_delta import InputDelta, SigmaDeltaParams

FRAC_BITS = 8
FINER_BITS = 5  # a hidden layer's messages may be up to 2^5 finer than t before its weights lose bits
W_MAX = 254


def _weights(w: np.ndarray, w_u: float, dense: bool) -> np.ndarray:
    if dense and w.min() < 0 < w.max():
        return (2 * np.rint(w / (2 * w_u))).clip(-256, W_MAX).astype(np.int32)
    return np.rint(w / w_u).clip(-256, W_MAX).astype(np.int32)


def quantise_sd(layer: FloatLayer, u_prev: float, delta_threshold: float, last: bool,
                frac_bits: int = FRAC_BITS) -> tuple[np.ndarray, SigmaDeltaParams, float]:
    """(integer weights in torch layout, the neuron, its message unit) for one normalised layer."""
    t = 2.0 ** -frac_bits
    m = float(np.abs(layer.weight).max()) or 1e-12
    w_u = m / W_MAX
    se = 0 if last else int(np.clip(round(math.log2(t / (u_prev * w_u))), 0, 7))
    if not last and u_prev * w_u * 2.0 ** se < t * 2.0 ** -FINER_BITS:  # capped shift: spend weight bits
        w_u = t * 2.0 ** -FINER_BITS / (u_prev * 2.0 ** se)
    bmax = float(np.abs(layer.bias).max(initial=0.0))
    w_u = max(w_u, bmax * 2.0 ** se / (2.0 ** 22 * u_prev))  # the bias (<< state_exp) keeps 24-bit headroom
    w = _weights(layer.weight, w_u, layer.kind == "dense")
    unit = u_prev * w_u * 2.0 ** se
    bias = np.rint(layer.bias / unit).astype(np.int64)
    vth = 0 if last else int(round(delta_threshold / unit))
    neuron = SigmaDeltaParams(vth=vth, bias=bias, state_exp=se, activation="unit" if last else "relu")
    return w, neuron, unit


def to_sd_network(float_layers: list[FloatLayer], input_shape: tuple[int, ...], input_scale: float,
                  delta_threshold: float, meta: dict | None = None,
                  frac_bits: int = FRAC_BITS) -> SNNNetwork:
    """The Lava-layout sigma-delta network (see the module docstring); ``input_shape`` without batch."""
    if delta_threshold < 0:
        raise ValueError(f"delta_threshold must be >= 0, got {delta_threshold}")
    u = 2.0 ** -frac_bits
    layers = []
    units = []
    prev_shape = tuple(input_shape)
    n = len(float_layers)
    for li, fl in enumerate(float_layers):
        w, neuron, unit = quantise_sd(fl, u, delta_threshold, li == n - 1, frac_bits)
        if fl.kind == "conv":
            c, h, wd = fl.in_shape
            kernel = np.ascontiguousarray(w.transpose(0, 3, 2, 1)[:, ::-1, ::-1, :])  # [O, kx, ky, I], flipped
            oc, oh, ow = fl.out_shape
            neuron = SigmaDeltaParams(neuron.vth, np.tile(neuron.bias, ow * oh), neuron.state_exp, neuron.activation)
            layers.append(ConvLayer(fl.name, kernel, (wd, h, c), (fl.stride[1], fl.stride[0]),
                                    (fl.padding[1], fl.padding[0]), neuron))
        else:
            if len(prev_shape) == 3:
                w = w[:, chw_to_xyc_permutation(prev_shape)]
            layers.append(DenseLayer(fl.name, w, 0, neuron))
        units.append(unit)
        prev_shape = fl.out_shape
        u = unit
    in_shape = tuple(input_shape)
    net_in = (in_shape[2], in_shape[1], in_shape[0]) if len(in_shape) == 3 else (int(np.prod(in_shape)),)
    info = dict(meta or {}, message_units=units, delta_threshold=delta_threshold, frac_bits=frac_bits)
    in_vth = int(round(delta_threshold * 2.0 ** frac_bits))
    # output_scale: one readout unit in the DNN's logit scale (lambda_L times the output's message unit)
    return SNNNetwork(net_in, tuple(layers), float(input_scale), float(float_layers[-1].scale * units[-1]),
                      "xyc" if len(in_shape) == 3 else "flat", info, InputDelta(in_vth, frac_bits))
