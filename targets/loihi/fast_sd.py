"""snn-fast for sigma-delta networks: Lava's ``lava.proc.sdn`` fixed-point arithmetic, vectorised.

It copies lava-nc 0.10's ``PyDeltaModelFixed`` (the input encoder) and ``PySigmaDeltaModelFixed``
(``lava/proc/sdn/models.py``), with ``PyDenseModelBitAcc`` / ``PyConvModelFixed`` carrying graded
messages (``num_message_bits > 0``): Dense sums ``weights.dot(s)`` in int32 and shifts by
``weight_exp``; Conv computes a true convolution, ignores ``weight_exp`` and wraps to 24 bits.
The equations are in ``neuroedge.snn.sigma_delta``.

Streams and timing. Each of the B streams is a sequence of frames in time order, one frame per
step, and the whole stream is one run (no reset between frames: that is what lets a sigma-delta
network send only changes). Frame k enters at step k (0-based) and its answer leaves the output
layer at step ``k + depth``, one step of delay per synaptic layer: answers are **read with their
delay** while later frames are already in the pipeline; a run of F frames takes ``F + depth`` steps
(the last frame is held for the final ``depth`` steps). The output layer has ``vth = 0``,
``state_exp = 0`` and no ReLU, so the running sum of its messages is its pre-activation exactly:
that sum is the readout.

Every layer's synaptic input is one batched product over all steps (the synapses are linear and
stateless); sigma is a cumulative sum (int32 wrap is associative), and only the delta/residue
recursion runs step by step on (streams, neurons) arrays (vectorised fully when vth = 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuroedge.snn.encoding import to_xyc
from neuroedge.snn.network import ConvLayer, DenseLayer, SNNNetwork
from neuroedge.snn.sigma_delta import SigmaDeltaParams
from neuroedge.targets.loihi.fast import _single_blas_thread, _Synapse, _torch, signed_clamp24, wrap_int32

INT32 = 1 << 31


def input_levels(x: np.ndarray, net: SNNNetwork) -> np.ndarray:
    """DNN inputs (F, ...) -> the input encoder's integers (F, n) in XYC order (see ``InputDelta``)."""
    assert net.input_delta is not None
    scale = float(1 << int(net.input_delta.frac_bits)) / float(net.input_scale)
    return np.rint(to_xyc(np.asarray(x, dtype=np.float64)) * scale).astype(np.int64)


def stream(x: np.ndarray, net: SNNNetwork) -> np.ndarray:
    """F frames of one stream -> (1, F + depth, n) input values per step (the last frame held)."""
    q = input_levels(x, net)
    held = np.concatenate([q, np.repeat(q[-1:], net.depth, axis=0)])
    return held[None]


def delta_encode(values: np.ndarray, vth: int, state_exp: int = 0) -> np.ndarray:
    """Lava's Delta/SigmaDelta send: values (steps, B, N) int64 -> messages (steps, B, N) int64."""
    steps = values.shape[0]
    th = int(vth) << int(state_exp)
    if th == 0:  # every change is sent at once: the messages are the first differences
        d = np.diff(values, axis=0, prepend=np.zeros_like(values[:1]))
        return wrap_int32(d) >> int(state_exp)
    out = np.empty_like(values)
    prev = np.zeros(values.shape[1:], np.int64)
    res = np.zeros(values.shape[1:], np.int64)
    for t in range(steps):
        delta = wrap_int32(values[t] - prev + res)
        s = np.where(np.abs(delta) >= th, delta, 0)
        res = delta - s
        prev = values[t]
        out[t] = s >> int(state_exp)
    return out


def graded_synapse(syn: _Synapse, s: np.ndarray) -> np.ndarray:
    """One layer's synaptic sums for graded messages s (M, n_in) int64 -> (M, n_out) int64, as Lava."""
    layer = syn.layer
    x = s.astype(np.float64)  # exact: every sum stays far below 2^53
    if isinstance(layer, DenseLayer):
        acc = wrap_int32(np.rint(x @ layer.weights.T.astype(np.float64)).astype(np.int64))
        e = int(layer.weight_exp)
        return acc << e if e > 0 else acc >> -e
    torch = _torch()
    m = s.shape[0]
    xx, yy, cc = layer.in_shape
    k = layer.weights[:, ::-1, ::-1, :]  # true convolution: correlate with the kernel flipped back
    with torch.inference_mode():
        img = torch.from_numpy(x.reshape(m, xx, yy, cc)).permute(0, 3, 1, 2)
        tk = torch.from_numpy(np.ascontiguousarray(k.transpose(0, 3, 1, 2)).astype(np.float64))
        y = torch.nn.functional.conv2d(img, tk, stride=layer.stride, padding=layer.padding)
        acc = np.rint(y.permute(0, 2, 3, 1).numpy()).astype(np.int64).reshape(m, -1)
    if acc.size and np.abs(acc).max() >= INT32:
        raise OverflowError(f"{layer.name}: a conv sum exceeds int32 (Lava's cast would be undefined)")
    return signed_clamp24(acc)


@dataclass
class SDResult:
    """A sigma-delta run. ``messages[l]``: non-zero messages of layer l per stream, (B,); layer -1
    is the input encoder. ``readout``: (B, steps, n_out), the output's running sum of messages
    (read frame k at step k + depth). ``synops``: (B,) messages times their non-zero fan-out.
    ``rasters[l]``: (B, steps, N_l) int32 messages for recorded layers (-1: the input's)."""

    messages: dict[int, np.ndarray]
    readout: np.ndarray
    synops: np.ndarray
    steps: int
    rasters: dict[int, np.ndarray] = field(default_factory=dict)
    state_overflows: int = 0  # sigma or act values beyond Loihi's 24-bit state (Lava's int32 does not wrap them)

    def frame_scores(self, depth: int, frames: int) -> np.ndarray:
        """(B, frames, n_out): frame k's answer, read at step k + depth."""
        return self.readout[:, depth:depth + frames]


def simulate_sd(net: SNNNetwork, values: np.ndarray, record: tuple[int, ...] | bool = ()) -> SDResult:
    """Run B streams of input values (B, steps, n_in) int through a sigma-delta ``net``."""
    if net.input_delta is None:
        raise ValueError("simulate_sd needs a sigma-delta network (input_delta set)")
    values = np.asarray(values, dtype=np.int64)
    b, steps, n_in = values.shape
    if n_in != int(np.prod(net.input_shape)):
        raise ValueError(f"inputs have {n_in} values per step, the network takes {int(np.prod(net.input_shape))}")
    rec = set(range(-1, net.depth)) if record is True else set(record or ())
    s = input_messages(net, values)  # (steps, B, n)
    messages = {-1: np.count_nonzero(s, axis=(0, 2))}
    rasters = {-1: s.transpose(1, 0, 2).astype(np.int32)} if -1 in rec else {}
    synops = np.zeros(b, np.int64)
    overflows = 0
    with _single_blas_thread():
        for li, layer in enumerate(net.layers):
            syn = _synapse(layer)
            synops += np.einsum("tbn,n->b", (s != 0).astype(np.int64), syn.fanout)
            s, over = _layer_run(layer, syn, s)
            overflows += over
            messages[li] = np.count_nonzero(s, axis=(0, 2))
            if li in rec:
                rasters[li] = s.transpose(1, 0, 2).astype(np.int32)
    readout = np.cumsum(s, axis=0).transpose(1, 0, 2)
    return SDResult(messages, readout, synops, steps, rasters, overflows)


def _synapse(layer: DenseLayer | ConvLayer) -> _Synapse:
    return _Synapse(layer) if isinstance(layer, DenseLayer) else _ConvFanout(layer)


def _layer_run(layer: DenseLayer | ConvLayer, syn: _Synapse, s: np.ndarray) -> tuple[np.ndarray, int]:
    """One sigma-delta layer: incoming messages (steps, B, n_in) -> its messages (steps, B, n_out)
    and the number of state values beyond 24 bits."""
    sd = layer.neuron
    assert isinstance(sd, SigmaDeltaParams)
    steps, b = s.shape[:2]
    n_out = int(np.prod(layer.out_shape))
    a = np.zeros((steps, b, n_out), np.int64)
    if steps > 1:
        a[1:] = graded_synapse(syn, s[:-1].reshape((steps - 1) * b, -1)).reshape(steps - 1, b, n_out)
    sigma = wrap_int32(np.cumsum(a, axis=0))
    pre = wrap_int32(sigma + (sd.bias.astype(np.int64) << sd.state_exp)[None, None, :])
    act = np.maximum(pre, 0) if sd.activation == "relu" else pre
    overflows = int((np.abs(sigma) > (1 << 23) - 1).sum() + (np.abs(act) > (1 << 23) - 1).sum())
    return delta_encode(act, sd.vth, sd.state_exp), overflows


def layer_messages(layer: DenseLayer | ConvLayer, s: np.ndarray) -> np.ndarray:
    """One layer on its own: incoming messages (steps, B, n_in) -> its messages (steps, B, n_out),
    exactly as inside ``simulate_sd`` (used to calibrate a network layer by layer)."""
    with _single_blas_thread():
        return _layer_run(layer, _synapse(layer), np.asarray(s, dtype=np.int64))[0]


def input_messages(net: SNNNetwork, values: np.ndarray) -> np.ndarray:
    """The input encoder: values (B, steps, n_in) -> messages (steps, B, n_in), as in ``simulate_sd``."""
    assert net.input_delta is not None
    v = np.ascontiguousarray(np.asarray(values, dtype=np.int64).transpose(1, 0, 2))
    return delta_encode(v, net.input_delta.vth)


class _ConvFanout(_Synapse):
    """A conv layer's fan-out (non-zero synapses per input neuron) without the spike kernels."""

    def __init__(self, layer: ConvLayer) -> None:
        self.layer = layer
        self.fanout = self._conv_fanout(layer)


def run_frames(net: SNNNetwork, x: np.ndarray, record: tuple[int, ...] | bool = ()) -> tuple[np.ndarray, SDResult]:
    """One stream of frames x (F, ...) in time order -> (scores (F, n_out), the run)."""
    res = simulate_sd(net, stream(x, net), record)
    return res.frame_scores(net.depth, len(x))[0].astype(np.float64), res


def streams_from_groups(x: np.ndarray, groups: np.ndarray, net: SNNNetwork) -> tuple[np.ndarray, np.ndarray]:
    """Frames x (F, ...) labelled with a stream id each (frames of one id in time order) -> input values
    (S, L + depth, n) for S independent streams of up to L frames (each held after its end), and
    index (S, L): the frame each slot holds, -1 for padding."""
    q = input_levels(x, net)
    ids = list(dict.fromkeys(np.asarray(groups).tolist()))
    members = [np.flatnonzero(np.asarray(groups) == g) for g in ids]
    length = max(len(m) for m in members)
    values = np.zeros((len(ids), length + net.depth, q.shape[1]), np.int64)
    index = np.full((len(ids), length), -1, np.int64)
    for i, m in enumerate(members):
        values[i, :len(m)] = q[m]
        values[i, len(m):] = q[m[-1]]
        index[i, :len(m)] = m
    return values, index


def run_streams(net: SNNNetwork, x: np.ndarray, groups: np.ndarray,
                record: tuple[int, ...] | bool = ()) -> tuple[np.ndarray, SDResult]:
    """Frames in independent streams (one per group id, e.g. per recording; state reset between
    them) -> (scores (F, n_out) in the frames' order, the run)."""
    values, index = streams_from_groups(x, groups, net)
    res = simulate_sd(net, values, record)
    scores = res.frame_scores(net.depth, index.shape[1])
    out = np.zeros((len(x), scores.shape[2]))
    ok = index >= 0
    out[index[ok]] = scores[ok]
    return out, res
