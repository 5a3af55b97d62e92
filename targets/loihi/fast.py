"""snn-fast: a vectorised numpy simulator of Lava's fixed-point models, batched over samples.

It copies the integer arithmetic of lava-nc 0.10 (``lava/proc/lif/models.py``
``AbstractPyLifModelFixed.subthr_dynamics``, ``lava/proc/dense/models.py``
``AbstractPyDenseModelBitAcc.run_spk``, ``lava/proc/conv/models.py`` ``PyConvModelFixed`` with
``lava/proc/conv/utils.py``) line for line, including where Lava's int32 arrays wrap, so that it
matches ``Loihi2SimCfg(select_tag="fixed_pt")`` spike for spike. The equations are in
``neuroedge.snn.network``.

Timing is Lava's: at step t (1-based) every synaptic layer delivers what it received at t-1, so
layer l's first possible input spike arrives at step l+1 and the output layer lags the input by
``depth`` steps. The input is played for all ``steps`` steps.

Synaptic sums are computed as float32 matrix products, which are exact because every partial sum
of 0/1 spikes times 8-bit weights stays below 2^24 (checked per layer; float64 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuroedge.snn.network import ConvLayer, DenseLayer, Layer, LIFParams, SNNNetwork

MAX_UV = 1 << 23  # u and v are 24-bit: Lava's max_uv_val


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """What storing an int64 into an int32 array does: wrap modulo 2^32."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def signed_clamp24(x: np.ndarray) -> np.ndarray:
    """lava.proc.conv.utils.signed_clamp(x, 24): wraps modulo 2^24 into [-2^23, 2^23)."""
    return ((x + MAX_UV) & ((1 << 24) - 1)) - MAX_UV


def wrap_current(u: np.ndarray) -> np.ndarray:
    """Lava's single wrap of u: (2^23, ..) loses 2^24 once; (.., -2^23] gains 2^24 once."""
    wrapped = np.where(u > MAX_UV, u - 2 * MAX_UV, u)
    return np.where(wrapped <= -MAX_UV, u + 2 * MAX_UV, wrapped)


def decay(x: np.ndarray, factor: int) -> np.ndarray:
    """``sign(x*f) * (|x*f| >> 12)``: Lava's decay, rounding toward zero; factor 4096 is the identity."""
    if factor == 4096:
        return x
    if factor == 0:
        return np.zeros_like(x)
    prod = x * factor
    return np.sign(prod) * (np.abs(prod) >> 12)


class _Synapse:
    """One layer's synaptic operator, prepared once: s (B, n_in) 0/1 -> a (B, n_out) int64."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        exact32 = layer.fan_in * 256 < (1 << 24)
        self.ftype = np.float32 if exact32 else np.float64
        if isinstance(layer, DenseLayer):
            self.matrix = np.ascontiguousarray(layer.weights.T.astype(self.ftype))  # (in, out)
            self.fanout = (layer.weights != 0).sum(axis=0).astype(np.int64)
        else:
            # Lava computes a true convolution: correlate with the kernel flipped back.
            k = layer.weights[:, ::-1, ::-1, :]  # [O, kx, ky, C]
            self.matrix = np.ascontiguousarray(k.transpose(1, 2, 3, 0).reshape(-1, k.shape[0]).astype(self.ftype))
            # conv(.) of 0/1 spikes is bounded by fan_in * 256: below 2^23 Lava's 24-bit clamp is a no-op.
            self.needs_clamp = layer.fan_in * 256 >= MAX_UV
            self.fanout = self._conv_fanout(layer)

    @staticmethod
    def _conv_fanout(layer: ConvLayer) -> np.ndarray:
        """Non-zero synapses each input neuron drives (an AvgPool's kernel is mostly zeros)."""
        x, y, c = layer.in_shape
        (kx, ky), (sx, sy), (px, py) = layer.kernel, layer.stride, layer.padding
        ox, oy, _ = layer.out_shape
        nnz = (layer.weights != 0).sum(axis=0)  # (kx, ky, C): output channels reached per offset
        fan = np.zeros((x, y, c), np.int64)
        for i in range(kx):
            for j in range(ky):
                # output (p, q) reads input (p*sx + i - px, q*sy + j - py)
                xs = np.arange(ox) * sx + i - px
                ys = np.arange(oy) * sy + j - py
                xs, ys = xs[(xs >= 0) & (xs < x)], ys[(ys >= 0) & (ys < y)]
                fan[np.ix_(xs, ys)] += nnz[i, j]
        return fan.reshape(-1)

    def __call__(self, s: np.ndarray) -> np.ndarray:
        layer = self.layer
        b = s.shape[0]
        if isinstance(layer, DenseLayer):
            acc = (s.astype(self.ftype) @ self.matrix).astype(np.int64)
            e = int(layer.weight_exp)
            return acc << e if e > 0 else acc >> -e
        x, y, c = layer.in_shape
        if _torch() is not None and self.ftype == np.float32:
            acc = self._conv_torch(s.reshape(b, x, y, c))
        else:
            acc = self._conv_numpy(s.reshape(b, x, y, c))
        acc = acc.reshape(b, -1)
        return signed_clamp24(acc) if self.needs_clamp else acc

    def _conv_torch(self, img: np.ndarray) -> np.ndarray:
        """torch's conv2d as the kernel: exact, as every product and partial sum is an integer < 2^24."""
        torch = _torch()
        layer = self.layer
        if not hasattr(self, "_tk"):
            k = layer.weights[:, ::-1, ::-1, :]  # [O, kx, ky, C], correlation form
            self._tk = torch.from_numpy(np.ascontiguousarray(k.transpose(0, 3, 1, 2)).astype(np.float32))
        with torch.inference_mode():
            x = torch.from_numpy(img).to(torch.float32).permute(0, 3, 1, 2)  # (B, C, X, Y)
            y = torch.nn.functional.conv2d(x, self._tk, stride=layer.stride, padding=layer.padding)
            return y.permute(0, 2, 3, 1).numpy().astype(np.int64)  # (B, X', Y', O): XYC

    def _conv_numpy(self, img: np.ndarray) -> np.ndarray:
        layer = self.layer
        b, _, _, c = img.shape
        (kx, ky), (sx, sy), (px, py) = layer.kernel, layer.stride, layer.padding
        img = img.astype(self.ftype)
        if px or py:
            img = np.pad(img, ((0, 0), (px, px), (py, py), (0, 0)))
        ox, oy, _ = layer.out_shape
        # im2col with rows ordered (kx, ky, C): each kernel offset copies contiguous channel vectors.
        cols = np.empty((b, ox, oy, kx, ky, c), dtype=self.ftype)
        for i in range(kx):
            for j in range(ky):
                cols[:, :, :, i, j, :] = img[:, i:i + sx * (ox - 1) + 1:sx, j:j + sy * (oy - 1) + 1:sy, :]
        return (cols.reshape(b * ox * oy, kx * ky * c) @ self.matrix).astype(np.int64)


def _torch():
    """torch if it is importable (it is in the toolkit's venv); the numpy im2col path otherwise."""
    try:
        import torch
    except ImportError:
        return None
    return torch


@dataclass
class SimResult:
    """What one batched run gives back.

    ``counts[l]``: spikes per neuron of layer l over the run, (B, N_l). ``spikes[l]``: the full
    raster (B, steps, N_l) bool, only for recorded layers. ``v_out``: the output layer's final
    voltage. ``readout``: count + (v_out - v_init) / (vth << 6), the class scores. ``synops``: synaptic
    events per sample (spikes times their fan-out, input spikes included).
    """

    counts: list[np.ndarray]
    v_out: np.ndarray
    readout: np.ndarray
    synops: np.ndarray
    spikes: dict[int, np.ndarray] = field(default_factory=dict)
    readout_at: dict[int, np.ndarray] = field(default_factory=dict)  # {steps run: readout after them}


def _lif_run(a: np.ndarray, lif: LIFParams, snap: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray, dict]:
    """A population's LIF dynamics over time. a: (steps, B, N) int64 synaptic input (already delayed).

    Returns (spikes (steps, B, N) bool, final v (B, N) int64, {step: v after that many steps} for
    the steps in ``snap``). Lava's order per step: u, then v, then the spike test, then the reset.
    """
    snaps: dict[int, np.ndarray] = {}
    want = set(snap)
    steps, b, n = a.shape
    bias = (lif.bias_mant.astype(np.int64) << int(lif.bias_exp))[None, :]
    theta = int(lif.vth) << 6
    out = np.empty((steps, b, n), dtype=bool)
    lo, hi = -MAX_UV + 1, MAX_UV - 1
    subtract = lif.reset == "subtract"
    if int(lif.du) == 4095 and int(lif.dv) == 0:
        # IF fast path: u holds one step's input, decay(v) = v. Values stay below 2^26: int32 is exact.
        peak = max(int(a.max(initial=0)), -int(a.min(initial=0))) << 6
        if peak < MAX_UV:  # nothing to wrap: skip Lava's wrap arithmetic (identity here)
            u_all = (a << 6).astype(np.int32)
        else:
            u_all = wrap_current(wrap_int32(a << 6)).astype(np.int32)
        u_all += bias.astype(np.int32)[None]
        v = np.full((b, n), int(lif.v_init), np.int32)
        th = np.int32(theta)
        for t in range(steps):
            np.add(v, u_all[t], out=v)
            np.minimum(v, hi, out=v)  # Lava's np.clip to +-(2^23 - 1), as two ufuncs (no wrapper cost)
            np.maximum(v, lo, out=v)
            spk = np.greater(v, th, out=out[t])
            if subtract:
                np.subtract(v, th, out=v, where=spk)
            else:
                np.copyto(v, 0, where=spk)
            if t + 1 in want:
                snaps[t + 1] = v.astype(np.int64)
        return out, v.astype(np.int64), snaps
    u = np.zeros((b, n), np.int64)
    v = np.full((b, n), int(lif.v_init), np.int64)
    fu, fv = 4096 - (int(lif.du) + 1), 4096 - int(lif.dv)
    for t in range(steps):
        u = wrap_current(wrap_int32(decay(u, fu) + (a[t] << 6)))
        v = np.clip(decay(v, fv) + u + bias, lo, hi)
        spk = v > theta
        out[t] = spk
        if subtract:
            v = v - spk * theta
        else:
            v = np.where(spk, 0, v)
        if t + 1 in want:
            snaps[t + 1] = v.copy()
    return out, v, snaps


def _chunk_size(net: SNNNetwork, steps: int, budget: int) -> int:
    """Samples per chunk so that the largest per-layer buffer stays near ``budget`` elements."""
    per_sample = 1
    for layer in net.layers:
        n_out = int(np.prod(layer.out_shape))
        cols = n_out // layer.out_shape[-1] * layer.fan_in if isinstance(layer, ConvLayer) else 0
        per_sample = max(per_sample, steps * max(n_out * 3, cols))
    return max(1, budget // per_sample)


def simulate(net: SNNNetwork, in_spikes: np.ndarray, record: tuple[int, ...] | bool = (),
             budget: int = 1 << 25, readout_at: tuple[int, ...] = ()) -> SimResult:
    """Run ``net`` on input spikes (B, steps, n_in) bool; ``record``: layer indices (True: all).

    The network is feed-forward, so each layer is run over all time steps at once: its synaptic
    input for every step is one matrix product of the previous layer's whole spike train (delayed
    by one step), then its LIF recursion runs over time on (batch, neurons) arrays. The result is
    the same integer arithmetic as a step-by-step run, in a handful of BLAS calls per layer.
    Samples are processed in chunks of about ``budget`` elements per buffer. ``readout_at``: step
    counts at which to also take the readout; as the input encoding of a shorter run is a prefix of
    a longer one, one run gives the accuracy at every shorter length.
    """
    in_spikes = np.asarray(in_spikes, dtype=bool)
    b, steps, n_in = in_spikes.shape
    if n_in != int(np.prod(net.input_shape)):
        raise ValueError(f"input spikes have {n_in} channels, the network takes {int(np.prod(net.input_shape))}")
    rec = set(range(len(net.layers))) if record is True else set(record or ())
    syn = [_Synapse(layer) for layer in net.layers]
    chunk = _chunk_size(net, steps, budget)
    parts = []
    with _single_blas_thread():
        for i in range(0, b, chunk):
            parts.append(_simulate_chunk(net, syn, in_spikes[i:i + chunk], rec, tuple(readout_at)))
    counts = [np.concatenate([p[0][li] for p in parts]) for li in range(len(net.layers))]
    v_out = np.concatenate([p[1] for p in parts])
    synops = np.concatenate([p[2] for p in parts])
    spikes = {li: np.concatenate([p[3][li] for p in parts]) for li in rec if li != -1}
    last = net.layers[-1]
    theta = float(int(last.neuron.vth) << 6)
    v0 = float(last.neuron.v_init)
    readout = counts[-1] + (v_out - v0) / theta
    at = {}
    for k in readout_at:
        cnt = np.concatenate([p[3][-1][:k].sum(axis=0) for p in parts]) if k <= steps else None
        if cnt is not None:
            at[k] = cnt + (np.concatenate([p[4][k] for p in parts]) - v0) / theta
    return SimResult(counts, v_out, readout, synops, spikes, at)


def _simulate_chunk(net: SNNNetwork, syn: list[_Synapse], in_spikes: np.ndarray, rec: set[int],
                    snap: tuple[int, ...] = ()):
    b, steps, n_in = in_spikes.shape
    s = np.ascontiguousarray(in_spikes.transpose(1, 0, 2))  # time-major (steps, B, n)
    counts, rasters = [], {}
    synops = np.zeros(b, np.int64)
    v_last, snaps = None, {}
    last = len(net.layers) - 1
    for li, layer in enumerate(net.layers):
        n_out = int(np.prod(layer.out_shape))
        synops += s.sum(axis=0, dtype=np.int64) @ syn[li].fanout
        # One step of delay: what the synapses received at t-1 reaches the neurons at t.
        a = np.zeros((steps, b, n_out), np.int64)
        if steps > 1:
            a[1:] = syn[li](s[:-1].reshape((steps - 1) * b, -1)).reshape(steps - 1, b, n_out)
        s, v_last, snaps = _lif_run(a, layer.neuron, snap if li == last else ())
        counts.append(s.sum(axis=0, dtype=np.int64))
        if li in rec:
            rasters[li] = np.ascontiguousarray(s.transpose(1, 0, 2))
    if snap:
        rasters[-1] = s  # the output layer's (steps, B, N) train, for readouts at earlier steps
    return counts, v_last, synops, rasters, snaps


class _single_blas_thread:
    """BLAS threads fight over a few shared cores for these small products: use one (threadpoolctl)."""

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits

            self._ctx = threadpool_limits(1)
            torch = _torch()
            self._torch_threads = torch.get_num_threads() if torch is not None else None
            if torch is not None:
                torch.set_num_threads(1)
        except ImportError:  # optional: without it BLAS keeps its own setting
            self._ctx = None
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.unregister()
            if self._torch_threads is not None:
                _torch().set_num_threads(self._torch_threads)


def run_steps(net: SNNNetwork, timesteps: int) -> int:
    """Steps a classification runs: ``timesteps`` plus the pipeline delay (one per synaptic layer)."""
    return int(timesteps) + net.depth
