"""Empirical bias correction for a sigma-delta network, on calibration inputs (training data).

A fixed-point sigma-delta layer's value is biased, not only noisy: Lava's ``SigmaDelta`` floors
every message (``s >> state_exp``; the shifted-off bits are never resent), so a neuron's running
sum sits on average half a message unit below its activation, and the next layer sums that bias
over its whole fan-in; rounded weights add a smaller, per-channel offset of their own. A bias
cannot be fixed where it arises (the bias is in whole message units), but it can one layer down.

So, layer by layer from the input (each layer measured with the layers above already corrected),
the calibration frames run through the integer network (``snn-fast``, each frame its own stream, the
input held for the pipeline depth, so every value has settled), and the layer's settled value is
compared with the normalised DNN's activation. The mean error per output channel, over the
positions where the DNN's activation is positive (where a bias shift passes straight through the
ReLU; every position for the output layer, which has none), is subtracted from that channel's integer bias, in message units. This is the empirical bias
correction of post-training quantisation (Nagel et al. 2019, "Data-Free Quantization Through Weight
Equalization and Bias Correction", section 4.2), done on the integer network itself. The result is
still an ordinary network: Lava and snn-fast run it bit for bit as before.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from neuroedge.converters.snn.fixed_point import chw_to_xyc_permutation
from neuroedge.converters.snn.layers import FloatLayer
from neuroedge.converters.snn.normalize import ann_forward
from neuroedge.snn.network import ConvLayer, SNNNetwork
from neuroedge.snn.sigma_delta import SD_STATE_MAX
from neuroedge.targets.loihi import fast_sd

FRAMES = 256  # calibration inputs used (evenly spaced through the calibration set): under a minute on the gesture CNN
MESSAGE_BYTES = 1 << 29  # at most ~512 MB for one layer's messages over all frames and steps (int64)


def _to_lava_order(a: np.ndarray, fl: FloatLayer) -> np.ndarray:
    """DNN activations (N, C*H*W torch order) -> Lava's XYC order; dense layers unchanged."""
    if fl.kind != "conv":
        return a
    return a[:, chw_to_xyc_permutation(fl.out_shape)]


def correct_biases(net: SNNNetwork, float_layers: list[FloatLayer], x: np.ndarray,
                   input_scale: float) -> tuple[SNNNetwork, list[dict[str, float]]]:
    """The network with each layer's bias corrected (see the module docstring), and per layer the
    mean error it corrected (message units, where the DNN is active) and the largest bias shift."""
    units = net.meta["message_units"]
    ref = ann_forward(float_layers, x, input_scale)
    q = fast_sd.input_levels(x, net)
    # each frame its own stream, held for depth + 1 steps: every layer's sum of messages has settled
    s = fast_sd.input_messages(net, np.repeat(q[:, None, :], net.depth + 1, axis=1))
    layers = list(net.layers)
    report = []
    for li, fl in enumerate(float_layers):
        layer, sd = layers[li], layers[li].neuron
        target = _to_lava_order(ref[li], fl) / units[li]  # the DNN's activation in message units
        err = fast_sd.layer_messages(layer, s).sum(axis=0) - target
        active = target > 0 if sd.activation == "relu" else np.ones_like(target, dtype=bool)  # the output: no ReLU
        conv = isinstance(layer, ConvLayer)
        n_chan = fl.out_shape[0] if conv else err.shape[1]
        chan = np.arange(err.shape[1]) % n_chan  # Lava's XYC order: the channel varies fastest
        total = np.bincount(chan, weights=(err * active).sum(axis=0), minlength=n_chan)
        count = np.bincount(chan, weights=active.sum(axis=0), minlength=n_chan)
        shift = -np.rint(np.divide(total, count, out=np.zeros(n_chan), where=count > 0)).astype(np.int64)
        limit = SD_STATE_MAX >> sd.state_exp  # what the network format accepts (see SigmaDeltaParams)
        layers[li] = replace(layer, neuron=replace(sd, bias=np.clip(sd.bias.astype(np.int64) + shift[chan],
                                                                    -limit, limit)))
        s = fast_sd.layer_messages(layers[li], s)  # the next layer is measured behind the corrected one
        report.append({"layer": fl.name, "mean_error": float(err[active].mean()) if active.any() else 0.0,
                       "max_bias_shift": int(np.abs(shift).max(initial=0))})
    net = replace(net, layers=tuple(layers))
    return replace(net, meta=dict(net.meta, bias_corrected=True)), report


def bias_corrected(net: SNNNetwork, float_layers: list[FloatLayer], x: np.ndarray,
                   input_scale: float, frames: int = FRAMES) -> tuple[SNNNetwork, list[dict[str, float]]]:
    """``net`` with biases corrected on up to ``frames`` calibration inputs, at its own delta threshold:
    with a threshold, a settled value also misses the residue below the threshold that was never sent
    (a bias too, as values rise from zero), and the correction takes it out with the rest."""
    x = np.asarray(x)
    widest = max(int(np.prod(la.out_shape)) for la in net.layers)
    frames = max(16, min(frames, MESSAGE_BYTES // (8 * (net.depth + 1) * widest)))  # a wide model: fewer inputs
    if len(x) > frames:
        x = x[np.linspace(0, len(x) - 1, frames).round().astype(int)]
    return correct_biases(net, float_layers, x, input_scale)
