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
Three refinements, on by default (chosen on validation streams by ``benchmarks/snn_sdnn.py``, the
lowest logit RMSE against the DNN): a Dense layer whose shift is capped keeps its 8 weight bits with a
negative ``weight_exp`` (``dense_exp``: Lava's Dense floors ``W.s >> -weight_exp`` once per neuron
and step, in sigma units, 2^state_exp finer than a message); a layer with one weight value (an
AvgPool) gets the unit that makes that value an integer, so it is exact (``exact_pool``); and every
hidden layer sends the finest messages the state allows (``fine``: unit t / 2^finer_bits, not t).
The last matters most on streams: every message's floor loses up to one unit that is never resent,
so a layer's running sum drifts down by about half a unit per message; with messages near t, the
DNN-logit error tripled over a 5-frame stream (gesture validation: RMSE 0.06 on the first frame,
0.21 on the fifth), with the finest messages it stays near the first frame's (0.06 to 0.09). The
price is weight bits on the wide conv layers (4-6 bits), which share one budget with their input's
message bits under the 7-bit shift and the 24-bit state (t / 64 overflows it). The mean error left
(the floor's and the rounded weights') is removed by ``converters/snn/sd_bias.py`` on calibration
inputs. Tried and not kept (session 5, removed): coarse pool messages (an AvgPool's whole scale in
its shift), which give the next conv 8-bit weights but drift more.
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
DENSE_EXP = True  # defaults: the layout benchmarks/snn_sdnn.py chose on validation
EXACT_POOL = True
FINE = True


def _one_weight(layer: FloatLayer) -> bool:
    """All non-zero weights equal and positive, no bias: an AvgPool (or a pool-like layer)."""
    nz = layer.weight[layer.weight != 0]
    return bool(nz.size and nz.min() > 0 and np.allclose(nz, nz.max(), rtol=1e-6, atol=0)
                and not np.any(layer.bias))


def _weights(w: np.ndarray, w_u: float, dense: bool) -> np.ndarray:
    if dense and w.min() < 0 < w.max():
        return (2 * np.rint(w / (2 * w_u))).clip(-256, W_MAX).astype(np.int32)
    return np.rint(w / w_u).clip(-256, W_MAX).astype(np.int32)


def quantise_sd(layer: FloatLayer, u_prev: float, delta_threshold: float, last: bool,
                frac_bits: int = FRAC_BITS, finer_bits: int = FINER_BITS,
                dense_exp: bool = DENSE_EXP, exact_pool: bool = EXACT_POOL,
                fine: bool = FINE) -> tuple[np.ndarray, SigmaDeltaParams, float, int]:
    """(integer weights in torch layout, the neuron, its message unit, weight_exp) for one layer.

    ``dense_exp``: a Dense layer whose shift is capped keeps its 8 weight bits with a negative
    ``weight_exp`` (Lava's Dense floors ``W.s >> -weight_exp`` once per neuron and step, in sigma
    units, 2^state_exp finer than a message) instead of coarser weights; Conv has no such exponent."""
    t = 2.0 ** -frac_bits
    m = float(np.abs(layer.weight).max()) or 1e-12
    w_u = m / W_MAX
    exact = exact_pool and not last and _one_weight(layer)
    if fine:  # the finest message unit the state allows (t / 2^finer_bits): the least drift from the floor
        se = 0 if last else int(np.clip(math.ceil(math.log2(t * 2.0 ** -finer_bits / (u_prev * w_u)) - 1e-9), 0, 7))
    else:
        se = 0 if last else int(np.clip(round(math.log2(t / (u_prev * w_u))), 0, 7))
    if not last and u_prev * w_u * 2.0 ** se < t * 2.0 ** -finer_bits:  # capped shift: spend weight bits
        w_u = t * 2.0 ** -finer_bits / (u_prev * 2.0 ** se)
    bmax = float(np.abs(layer.bias).max(initial=0.0))
    w_u = max(w_u, bmax * 2.0 ** se / (2.0 ** 22 * u_prev))  # the bias (<< state_exp) keeps 24-bit headroom
    if exact:  # one weight value (an AvgPool): scale so that it is an integer, the layer exact
        w_u = m / max(1, round(m / w_u))
    k = 0
    if dense_exp and layer.kind == "dense" and not last:
        k = int(np.clip(math.floor(math.log2(w_u * W_MAX / m + 1e-12)), 0, 8))
    w = _weights(layer.weight, w_u / 2.0 ** k, layer.kind == "dense")
    unit = u_prev * w_u * 2.0 ** se
    bias = np.rint(layer.bias / unit).astype(np.int64)
    vth = 0 if last else int(round(delta_threshold / unit))
    neuron = SigmaDeltaParams(vth=vth, bias=bias, state_exp=se, activation="unit" if last else "relu")
    return w, neuron, unit, -k


def to_sd_network(float_layers: list[FloatLayer], input_shape: tuple[int, ...], input_scale: float,
                  delta_threshold: float, meta: dict | None = None,
                  frac_bits: int = FRAC_BITS, finer_bits: int = FINER_BITS,
                  dense_exp: bool = DENSE_EXP,
                  exact_pool: bool = EXACT_POOL, fine: bool = FINE) -> SNNNetwork:
    """The Lava-layout sigma-delta network (see the module docstring); ``input_shape`` without batch."""
    if delta_threshold < 0:
        raise ValueError(f"delta_threshold must be >= 0, got {delta_threshold}")
    u = 2.0 ** -frac_bits
    layers = []
    units = []
    prev_shape = tuple(input_shape)
    n = len(float_layers)
    for li, fl in enumerate(float_layers):
        w, neuron, unit, wexp = quantise_sd(fl, u, delta_threshold, li == n - 1, frac_bits, finer_bits,
                                            dense_exp, exact_pool, fine)
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
            layers.append(DenseLayer(fl.name, w, wexp, neuron))
        units.append(unit)
        prev_shape = fl.out_shape
        u = unit
    in_shape = tuple(input_shape)
    net_in = (in_shape[2], in_shape[1], in_shape[0]) if len(in_shape) == 3 else (int(np.prod(in_shape)),)
    info = dict(meta or {}, message_units=units, delta_threshold=delta_threshold, frac_bits=frac_bits,
                finer_bits=finer_bits, dense_exp=dense_exp,
                exact_pool=exact_pool, fine_messages=fine)
    in_vth = int(round(delta_threshold * 2.0 ** frac_bits))
    # output_scale: one readout unit in the DNN's logit scale (lambda_L times the output's message unit)
    return SNNNetwork(net_in, tuple(layers), float(input_scale), float(float_layers[-1].scale * units[-1]),
                      "xyc" if len(in_shape) == 3 else "flat", info, InputDelta(in_vth, frac_bits))
