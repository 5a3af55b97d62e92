"""Layer splitting: one layer becomes three whose outputs sum to the original's.

For a layer ``y = W x + b`` and the k-means masks ``M_l, M_m, M_u`` of ``W`` (and ``m_l, m_m, m_u`` of
``b``, from its own k-means), the copies are ``W_k = W * M_k`` and ``b_k = b * m_k``. Linearity gives

    y = (W_l + W_m + W_u) x + (b_l + b_m + b_u) = sum_k (W_k x + b_k),

so the split model equals the original up to float rounding. Each copy is quantised alone, so the
narrow middle cluster (the bulk) gets a fine scale that the outliers no longer stretch.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from neuroedge.converters.splitquant.kmeans import K, cluster_masks, distinct_count
from neuroedge.converters.splitquant.layers import get_module, require_quantisable, set_module

BRANCH_NAMES = ("lower", "middle", "upper")


class SplitLayer(nn.Module):
    """Three copies of one layer; ``forward`` returns the sum of their (float) outputs.

    The branches must return plain tensors: brevitas refuses to add QuantTensors of different scales,
    so quantised branches are built with ``return_quant_tensor=False``.
    """

    def __init__(self, lower: nn.Module, middle: nn.Module, upper: nn.Module) -> None:
        super().__init__()
        self.lower, self.middle, self.upper = lower, middle, upper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lower(x) + self.middle(x) + self.upper(x)


def _masked_copy(layer: nn.Module, w_mask: np.ndarray, b_mask: np.ndarray | None) -> nn.Module:
    part = copy.deepcopy(layer)
    with torch.no_grad():
        part.weight.mul_(torch.from_numpy(w_mask).to(part.weight.dtype))
        if part.bias is not None and b_mask is not None:
            part.bias.mul_(torch.from_numpy(b_mask).to(part.bias.dtype))
    return part


def split_layer(layer: nn.Module, seed: int = 0) -> nn.Module:
    """``SplitLayer`` of ``layer``, or ``layer`` itself when its weights hold fewer than 3 distinct values."""
    w = layer.weight.detach().cpu().numpy()
    if distinct_count(w) < K:
        return layer
    w_masks = cluster_masks(w, seed)
    bias = layer.bias
    if bias is None:
        b_masks: tuple[np.ndarray | None, ...] = (None, None, None)
    else:
        b = bias.detach().cpu().numpy()
        if distinct_count(b) >= K:
            b_masks = cluster_masks(b, seed)
        else:  # all zeros or nearly constant: split the weights anyway, keep the bias whole in one copy
            ones, zeros = np.ones_like(b, dtype=bool), np.zeros_like(b, dtype=bool)
            b_masks = (zeros, ones, zeros)
    parts = [_masked_copy(layer, wm, bm) for wm, bm in zip(w_masks, b_masks, strict=True)]
    return SplitLayer(*parts)


def split_layers(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every Linear/Conv1d/Conv2d replaced by a ``SplitLayer``.

    ``model`` itself is never modified. Layers brevitas cannot quantise are named in a warning and
    left alone; a model with no quantisable layer raises ``NoQuantisableLayerError``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"split_layers needs a torch.nn.Module, got {type(model).__name__}")
    names, _ = require_quantisable(model)
    out = copy.deepcopy(model)
    for name in names:
        new = split_layer(get_module(out, name), seed)
        if name == "":
            return new
        set_module(out, name, new)
    return out


def split_cost(original: nn.Module, split: nn.Module) -> dict[str, int]:
    """Parameter counts before and after: each split layer stores 3x its weights (mostly zeros)."""
    before = sum(p.numel() for p in original.parameters())
    after = sum(p.numel() for p in split.parameters())
    layers = sum(1 for m in split.modules() if isinstance(m, SplitLayer))
    return {"params_before": before, "params_after": after, "split_layers": layers}
