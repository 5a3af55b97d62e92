"""Merged SplitQuant: after quantising the three parts, deploy one layer per original layer.

The three parts of a split layer are only a way to quantise. Once each is quantised, linearity gives

    y = Q_l(W_l) x + Q_m(W_m) x + Q_u(W_u) x + (b_l + b_m + b_u) = (Q_l(W_l) + Q_m(W_m) + Q_u(W_u)) x + b,

so one layer with the summed dequantised weight computes the same outputs (up to float summation
order: max |dy| / max |y| <= 1e-5). Each weight belongs to exactly one cluster and the other two parts
hold an exact zero there (every grid here contains 0), so row ``c`` of the merged weight takes at most
``3 * 2^b`` distinct values: 12 at INT2. It is stored as a per-output-channel **codebook**: a table of
those values per channel and a ``ceil(log2(levels))``-bit index per weight (4 bits at INT2), in
``weights.packed.npz``:

    L.weight.codebook     float32 [C, K], row c: channel c's values (padded with its last value)
    L.weight.indices      uint8, the indices as a bit stream (``pack_codes``), ``index_bits`` each
    L.weight.shape        int64, the weight's shape;   L.weight.index_bits: the index width

and ``w[c, ...] = codebook[c, indices[c, ...]]``. The ONNX graph holds the merged layer as a plain
float weight: onnxruntime would fold a Gather over a stored codebook into exactly that, so the file
runs at float speed and costs float bytes at run time; the stored (codebook) bytes are reported apart.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroedge.converters.splitquant.layers import get_module, set_module
from neuroedge.converters.splitquant.pack import (  # noqa: F401 - the codebook form is stored by pack
    codebook,
    codebook_arrays,
    from_codebook,
    levels_per_channel,
    read_codebooks,
)
from neuroedge.converters.splitquant.split import SplitLayer

FLOAT_OF = {"QuantLinear": nn.Linear, "QuantConv1d": nn.Conv1d, "QuantConv2d": nn.Conv2d}


def _dequantised(layer: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return layer.quant_weight().value.detach().clone() if hasattr(layer, "quant_weight") else layer.weight.detach().clone()


def _float_layer(like: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """A plain torch layer of ``like``'s kind and geometry holding ``weight`` and ``bias``."""
    kind = FLOAT_OF.get(type(like).__name__)
    if kind is None:
        for base in (nn.Conv2d, nn.Conv1d, nn.Linear):  # brevitas layers subclass the torch ones
            if isinstance(like, base):
                kind = base
                break
    if kind is None:
        raise TypeError(f"splitquant merge: cannot merge a {type(like).__name__} layer")
    if kind is nn.Linear:
        out = nn.Linear(like.in_features, like.out_features, bias=bias is not None)
    else:
        out = kind(like.in_channels, like.out_channels, like.kernel_size, stride=like.stride, padding=like.padding,
                   dilation=like.dilation, groups=like.groups, bias=bias is not None, padding_mode=like.padding_mode)
    with torch.no_grad():
        out.weight.copy_(weight)
        if bias is not None:
            out.bias.copy_(bias)
    return out.eval()


def merge_split(qmodel: nn.Module) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """A copy of a quantised split model with each ``SplitLayer`` replaced by one float layer.

    Its weight is the sum of the three parts' dequantised weights, its bias the sum of their biases.
    Returns the merged model and ``{layer name: merged weight}``. Layers that were not split (plain
    quantised layers, float layers) are left as they are. ``qmodel`` itself is not modified.
    """
    merged = copy.deepcopy(qmodel).eval()
    names = [n for n, m in merged.named_modules() if isinstance(m, SplitLayer)]
    weights: dict[str, torch.Tensor] = {}
    for name in names:
        split = get_module(merged, name)
        parts = (split.lower, split.middle, split.upper)
        weight = sum((_dequantised(p) for p in parts), torch.zeros(()))
        biases = [p.bias.detach() for p in parts if p.bias is not None]
        bias = sum(biases[1:], biases[0].clone()) if biases else None
        layer = _float_layer(parts[0], weight, bias)
        weights[name] = weight
        if name == "":
            return layer, weights
        set_module(merged, name, layer)
    return merged, weights


def byte_report(weights: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Stored vs run-time bytes of the merged weights, beside plain INT2/INT3/INT4 packing of the same weights.

    Codebook: ``ceil(n * index_bits / 8)`` index bytes plus a float32 table of ``C x K``. Plain INTb:
    ``ceil(n * b / 8)`` code bytes plus a float32 scale and zero point per channel. Run time: the float
    weight that onnxruntime holds (4 bytes a weight).
    """
    stored = index = tables = runtime = 0
    plain = {b: 0 for b in (2, 3, 4)}
    levels: list[int] = []
    for w in weights.values():
        arr = w.detach().cpu().numpy()
        cb = codebook(arr)
        n, channels = int(arr.size), int(arr.shape[0])
        index += cb["indices"].nbytes
        tables += cb["codebook"].nbytes
        runtime += n * 4
        levels += levels_per_channel(arr).tolist()
        for b in plain:
            plain[b] += -(-n * b // 8) + channels * 2 * 4
    stored = index + tables
    return {"merged_bytes": stored, "merged_index_bytes": index, "merged_table_bytes": tables,
            "merged_runtime_bytes": runtime, "merged_levels_max": max(levels, default=0),
            "merged_levels_mean": round(float(np.mean(levels)), 2) if levels else 0.0,
            **{f"plain_int{b}_bytes": v for b, v in plain.items()}}
