"""The float SNN: the normalised network as ideal IF neurons, before any fixed-point rounding.

Same input spikes, same timing (one step of delay per synaptic layer) and same readout as the
fixed-point simulators, with real-valued weights: per step, ``v += W' s[t-1] + b'``; a spike when
``v > 1``; reset by subtracting 1; v starts at ``v_init`` (half a threshold, as the fixed-point net). Comparing it with the fixed-point SNN separates the loss of rate
coding from the loss of quantisation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from neuroedge.converters.snn.layers import FloatLayer
from neuroedge.snn.encoding import encode


def xyc_to_torch(spikes: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """(B, P, n) XYC spikes -> (B, P, C, H, W) (or unchanged for vectors)."""
    if len(input_shape) != 3:
        return spikes
    c, h, w = input_shape
    b, p, _ = spikes.shape
    return spikes.reshape(b, p, w, h, c).transpose(0, 1, 4, 3, 2)


def simulate_float(layers: list[FloatLayer], x: np.ndarray, input_scale: float, steps: int,
                   batch: int = 128, readout_at: tuple[int, ...] = (), v_init: float = 0.5,
                   settings: str = "own") -> tuple[np.ndarray, list[np.ndarray], dict[int, np.ndarray]]:
    """(readout (B, n_out), spike counts per layer in torch layout (B, N_l), {k: readout after k
    steps}) over ``steps`` steps.

    ``settings="sinabs"``: the neurons as sinabs 3.1.3 imports a NIR IF node (``IAFSqueeze``): v
    starts at 0 (``v_init`` ignored), ``trunc(v)`` spikes per step when v > 0 (several allowed), reset
    by subtraction, v floored at -1 (``min_v_mem = -threshold``), and no synaptic delay (a step goes
    through every layer at once). Used to compare our NIR file in sinabs like with like."""
    if settings not in ("own", "sinabs"):
        raise ValueError(f"settings must be 'own' or 'sinabs', got {settings!r}")
    if settings == "sinabs":
        v_init = 0.0
    readouts, counts_all, ats = [], [], []
    for i in range(0, len(x), batch):
        xb = np.asarray(x[i:i + batch])
        spikes = xyc_to_torch(encode(xb, input_scale, steps), tuple(xb.shape[1:]))
        r, c, at = _run(layers, torch.from_numpy(np.ascontiguousarray(spikes, dtype=np.float32)), set(readout_at),
                        v_init, settings == "sinabs")
        readouts.append(r)
        counts_all.append(c)
        ats.append(at)
    at_all = {k: np.concatenate([a[k] for a in ats]) for k in ats[0]} if ats else {}
    return (np.concatenate(readouts), [np.concatenate([c[k] for c in counts_all]) for k in range(len(layers))],
            at_all)


def _run(layers: list[FloatLayer], spikes: torch.Tensor, want: set[int], v_init: float = 0.5,
         sinabs: bool = False) -> tuple[np.ndarray, list[np.ndarray], dict[int, np.ndarray]]:
    b, steps = spikes.shape[:2]
    ws = [torch.from_numpy(layer.weight.astype(np.float32)) for layer in layers]
    bs = [torch.from_numpy(layer.bias.astype(np.float32)) for layer in layers]
    sizes = [int(np.prod(layer.out_shape)) for layer in layers]
    v = [torch.full((b, n), float(v_init)) for n in sizes]
    counts = [torch.zeros(b, n) for n in sizes]
    prev: list[torch.Tensor | None] = [None] * len(layers)
    at: dict[int, np.ndarray] = {}
    with torch.inference_mode():
        for t in range(steps):
            new_prev: list[torch.Tensor | None] = [spikes[:, t]]
            for li, layer in enumerate(layers):
                s = new_prev[li] if sinabs else prev[li]
                if s is None:
                    a = torch.zeros(b, sizes[li])
                elif layer.kind == "conv":
                    s4 = s.reshape((b,) + tuple(layer.in_shape))
                    a = F.conv2d(s4, ws[li], None, stride=layer.stride, padding=layer.padding).reshape(b, -1)
                else:
                    a = F.linear(s.reshape(b, -1), ws[li])
                bias = bs[li].repeat_interleave(sizes[li] // bs[li].numel())  # CHW: channel slowest
                v[li] += a + bias
                if sinabs:
                    spk = torch.where(v[li] > 0, torch.trunc(v[li]), torch.zeros_like(v[li]))
                    v[li] -= spk
                    v[li].clamp_(min=-1.0)
                else:
                    spk = (v[li] > 1.0).float()
                    v[li] -= spk
                counts[li] += spk
                new_prev.append(spk)
            prev = new_prev[: len(layers)]
            if t + 1 in want:
                at[t + 1] = (counts[-1] + v[-1] - v_init).numpy().copy()
    readout = (counts[-1] + v[-1] - v_init).numpy()
    return readout, [c.numpy() for c in counts], at
