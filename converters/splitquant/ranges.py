"""Activation-weighted MSE ranges: each output channel's clipping range chosen by the error it causes.

brevitas' MSE quantisers pick the range that minimises the weight error ``||w - Q(w)||^2``. Every weight
counts the same there, though a weight that multiplies a large input matters more to the output. For a
row ``w`` of a layer (a Linear row, or a conv filter over its unfolded ``c k k`` patch) and its inputs
``u``, the output error is ``e^T u`` with ``e = w - Q(w)``, so

    E[(e^T u)^2] = e^T G e,      G = E[u u^T],

and the diagonal of ``G`` weights each weight's error by its input's mean square ``h_j = E[u_j^2]``:

    err(lo, hi) = sum_j h_j (w_j - Q_{lo,hi}(w_j))^2.

For each output channel, ``(lo, hi) = (a min(w, 0), b max(w, 0))`` is searched over a grid of shrink
factors ``a, b`` in [0.15, 1] (tied ``a = b`` for the symmetric grid), with the quantiser's own rounding:
asymmetric ``s = (hi - lo) / (2^b - 1)``, integer zero point ``z = round(-lo / s)``,
``Q(w) = s (clamp(round(w / s) + z, 0, 2^b - 1) - z)``; symmetric ``s = hi / 127`` at 8 bits (narrow
range), ``s = hi / 2^(b-1)`` below (full range, as brevitas does).
The weights are then clipped to ``[lo, hi]``, so brevitas' min/max quantisers put their grid exactly there:
clipping changes no code, since ``Q`` clamps to the end points anyway. ``h`` comes from the float
model's inputs on calibration data (training inputs, never the test set). A grouped convolution, or a
layer that did not run on the calibration data, falls back to ``h = 1`` (plain weight MSE).

The same search runs for a split model's three branches (each sees the same inputs), so split and plain
models get the same quantiser. Only the diagonal of ``G`` is used: the full ``e^T G e`` was tried too and
recovers plain INT2 almost entirely (see benchmarks/splitquant.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

SHRINK_GRID = torch.linspace(0.15, 1.0, 18, dtype=torch.float64)


def _patches(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The rows ``u`` the layer multiplies its weight rows with: [rows, in_features] or [rows, c k k]."""
    if isinstance(layer, nn.Linear):
        return x.reshape(-1, x.shape[-1])
    if isinstance(layer, nn.Conv1d):
        x, k, d, p, s = x.unsqueeze(2), (1, *layer.kernel_size), (1, *layer.dilation), (0, *layer.padding), (
            1, *layer.stride)
    else:
        k, d, p, s = layer.kernel_size, layer.dilation, layer.padding, layer.stride
    if isinstance(p, str):  # padding="same"/"valid": not unfoldable directly
        raise ValueError("string padding")
    u = F.unfold(x, k, d, p, s)  # [N, c k k, L]
    return u.transpose(1, 2).reshape(-1, u.shape[1])


def feed_inputs(model: nn.Module, layers: dict[str, nn.Module], data: torch.Tensor,
                record: Callable[[str, torch.Tensor], None], batch_size: int = 256) -> None:
    """Run ``model`` on ``data`` in batches; ``record(name, rows)`` sees each named layer's input rows
    (``_patches``: one row per output position), as float64. Layers whose input cannot be unfolded are skipped."""
    def hook(name: str):
        def on_forward(module: nn.Module, inputs: tuple, _out: torch.Tensor) -> None:
            try:
                u = _patches(module, inputs[0].detach()).double()
            except ValueError:
                return
            record(name, u)
        return on_forward

    handles = [m.register_forward_hook(hook(n)) for n, m in layers.items()]
    try:
        with torch.no_grad():
            for batch in torch.as_tensor(data, dtype=torch.float32).split(batch_size):
                model(batch)
    finally:
        for h in handles:
            h.remove()


def input_mean_squares(model: nn.Module, layers: dict[str, nn.Module], data: torch.Tensor,
                       batch_size: int = 256) -> dict[str, torch.Tensor]:
    """``h = E[u_j^2]`` per input feature of each named layer, from ``model`` run on ``data``."""
    sums: dict[str, torch.Tensor] = {}
    rows: dict[str, int] = {}

    def record(name: str, u: torch.Tensor) -> None:
        sums[name] = sums.get(name, 0) + (u * u).sum(0)
        rows[name] = rows.get(name, 0) + u.shape[0]

    model.eval()
    feed_inputs(model, {n: m for n, m in layers.items() if getattr(m, "groups", 1) == 1}, data, record, batch_size)
    return {n: sums[n] / rows[n] for n in sums}


def fake_quant(w: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bits: int, symmetric: bool) -> torch.Tensor:
    """``Q(w)`` on the grid spanning ``[lo, hi]`` per row (see the module docstring)."""
    if symmetric:  # brevitas: narrow range [-127, 127] at 8 bits, s = hi / 127; full range below, s = hi / 2^(b-1)
        m = 2 ** (bits - 1) - 1
        s = (hi / (m if bits == 8 else m + 1)).clamp_min(1e-30)
        return torch.round(w / s).clamp(-m - (0 if bits == 8 else 1), m) * s
    n = 2**bits - 1
    s = ((hi - lo) / n).clamp_min(1e-30)
    z = torch.round(-lo / s).clamp(0, n)
    return (torch.round(w / s) + z).clamp(0, n).sub(z) * s


def best_ranges(weight: torch.Tensor, h: torch.Tensor | None, bits: int, symmetric: bool,
                grid: torch.Tensor = SHRINK_GRID) -> tuple[torch.Tensor, torch.Tensor]:
    """Per output channel ``(lo, hi)`` minimising ``sum_j h_j (w_j - Q(w_j))^2`` over the shrink grid."""
    w = weight.detach().reshape(weight.shape[0], -1).double()
    hw = torch.ones(w.shape[1], dtype=torch.float64) if h is None else h.to(torch.float64)
    if symmetric:
        hi0 = w.abs().max(1).values
        lo0 = -hi0
        pairs = [(a, a) for a in grid]
    else:
        lo0, hi0 = w.min(1).values.clamp(max=0), w.max(1).values.clamp(min=0)
        pairs = [(a, b) for a in grid for b in grid]
    best = torch.full((w.shape[0],), float("inf"), dtype=torch.float64)
    best_lo, best_hi = lo0.clone(), hi0.clone()
    for a, b in pairs:
        lo, hi = lo0 * a, hi0 * b
        e = w - fake_quant(w, lo[:, None], hi[:, None], bits, symmetric)
        err = (e * e * hw).sum(1)
        better = err < best
        best = torch.where(better, err, best)
        best_lo, best_hi = torch.where(better, lo, best_lo), torch.where(better, hi, best_hi)
    return best_lo, best_hi


def clip_to_best_ranges(model: nn.Module, layers: dict[str, nn.Module], data: torch.Tensor, bits: int,
                        symmetric: bool) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Clip each layer's weights (in place) to its activation-weighted MSE range; returns the ranges."""
    h = input_mean_squares(model, layers, data)
    out = {}
    for name, layer in layers.items():
        lo, hi = best_ranges(layer.weight, h.get(name), bits, symmetric)
        shape = (-1,) + (1,) * (layer.weight.dim() - 1)
        lo_t, hi_t = lo.to(layer.weight.dtype).view(shape), hi.to(layer.weight.dtype).view(shape)
        with torch.no_grad():
            layer.weight.copy_(torch.maximum(torch.minimum(layer.weight, hi_t), lo_t))
        out[name] = (lo, hi)
    return out
