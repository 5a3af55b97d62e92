"""SplitQuant layer splitting: exact before quantisation, seeded, and it never touches its argument."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from examples.digits.models import digits_cnn, digits_mlp
from examples.models.tiny_transformer import tiny_transformer
from neuroedge.converters.splitquant import (
    NoQuantisableLayerError,
    SplitLayer,
    SplitQuantWarning,
    split_layers,
)
from neuroedge.converters.splitquant.kmeans import cluster_boundaries, cluster_masks

MODELS = [(digits_mlp, (16, 64)), (tiny_transformer, (16, 64)), (digits_cnn, (16, 1, 8, 8))]


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("factory,shape", MODELS, ids=lambda v: getattr(v, "__name__", ""))
def test_split_equals_original_before_quantisation(factory, shape):
    torch.manual_seed(0)
    model = factory().eval()
    before = _state(model)
    split = split_layers(model, seed=0)
    x = torch.rand(shape)
    with torch.no_grad():
        ref, got = model(x), split(x)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()
    n_quantisable = sum(type(m) in (nn.Linear, nn.Conv1d, nn.Conv2d) for m in model.modules())
    assert sum(isinstance(m, SplitLayer) for m in split.modules()) == n_quantisable
    # the argument is untouched: same modules, same values
    assert not any(isinstance(m, SplitLayer) for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_split_branches_hold_disjoint_clusters_that_sum_to_the_weight():
    torch.manual_seed(1)
    layer = nn.Linear(32, 16)
    split = split_layers(nn.Sequential(layer))[0]
    parts = [split.lower.weight, split.middle.weight, split.upper.weight]
    assert torch.equal(sum(parts), layer.weight)
    nonzero = torch.stack([p != 0 for p in parts]).sum(0)
    assert int(nonzero.max()) == 1  # each weight lives in exactly one copy
    lo, mid, up = (p[p != 0] for p in parts)
    assert lo.max() < mid.min() and mid.max() < up.min()  # the clusters are ordered intervals
    assert torch.equal(split.lower.bias + split.middle.bias + split.upper.bias, layer.bias)


def test_same_seed_same_split_and_masks_partition():
    w = np.random.default_rng(0).standard_t(3, 5000)
    assert cluster_boundaries(w, seed=3) == cluster_boundaries(w, seed=3)
    lower, middle, upper = cluster_masks(w, seed=3)
    assert np.array_equal(lower.astype(int) + middle + upper, np.ones_like(w, dtype=int))
    torch.manual_seed(0)
    model = digits_mlp()
    a, b = split_layers(model, seed=5), split_layers(model, seed=5)
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())


def test_conv1d_conv2d_and_zero_or_missing_bias_are_split():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(24, 8, bias=False), nn.ReLU(), nn.Linear(8, 3)
    )
    nn.init.zeros_(model[5].bias)  # the authors' code skips such layers; we split their weights anyway
    split = split_layers(model)
    assert isinstance(split[0], SplitLayer) and isinstance(split[3], SplitLayer) and isinstance(split[5], SplitLayer)
    assert split[3].lower.bias is None
    x = torch.rand(5, 2, 8)
    with torch.no_grad():
        assert torch.allclose(split(x), model(x), atol=1e-6)


def test_layer_with_fewer_than_three_distinct_values_is_left_alone():
    layer = nn.Linear(4, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -1.0] * 2] * 4))
    model = nn.Sequential(layer, nn.ReLU(), nn.Linear(4, 2))
    split = split_layers(model)
    assert type(split[0]) is nn.Linear and isinstance(split[2], SplitLayer)


def test_no_quantisable_layer_is_a_clear_error():
    with pytest.raises(NoQuantisableLayerError, match="no nn.Linear, nn.Conv1d or nn.Conv2d"):
        split_layers(nn.Sequential(nn.ReLU(), nn.Flatten()))


def test_unsupported_layers_are_named_in_a_warning_and_left_in_float():
    model = nn.Sequential(nn.Linear(8, 8), nn.TransformerEncoderLayer(8, 2, 16, batch_first=True))
    with pytest.warns(SplitQuantWarning, match=r"'1' \(TransformerEncoderLayer\).*left in float"):
        split = split_layers(model)
    assert isinstance(split[0], SplitLayer)
    assert not any(isinstance(m, SplitLayer) for m in split[1].modules())
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        split_layers(nn.Sequential(nn.Conv3d(1, 2, 1), nn.Flatten(), nn.Linear(2, 2)))
    assert any("Conv3d" in str(w.message) for w in seen)
