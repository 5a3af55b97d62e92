"""The activation-weighted MSE scheme (``*-awmse``): ranges from the layers' inputs, grids by brevitas."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuroedge.converters.splitquant import SCHEMES, quantize_weights, split_layers
from neuroedge.converters.splitquant.quantize import quant_layers
from neuroedge.converters.splitquant.ranges import (
    best_ranges,
    fake_quant,
    input_mean_squares,
)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 36, 5)).eval()


def _weights(q: nn.Module) -> dict[str, torch.Tensor]:
    return {n: m.quant_weight().value.detach() for n, m in quant_layers(q).items()}


@pytest.mark.parametrize("scheme,bits,symmetric", [
    ("paper-awmse", 2, False), ("paper-awmse", 4, False), ("paper-awmse", 8, True),
    ("sym-per-channel-awmse", 2, True),
])
def test_brevitas_puts_its_grid_exactly_on_the_chosen_ranges(scheme, bits, symmetric):
    """Clipping to (lo, hi) then brevitas min/max == the search's own quantiser on (lo, hi)."""
    assert scheme in SCHEMES
    model, x = _model(), torch.rand(64, 2, 6, 6)
    q = quantize_weights(model, bits, scheme, calibration=x, bias_correction=False)
    h = input_mean_squares(model, {"0": model[0], "3": model[3]}, x)
    got = _weights(q)
    for name in ("0", "3"):
        w = model[int(name)].weight.detach().reshape(model[int(name)].weight.shape[0], -1).double()
        lo, hi = best_ranges(model[int(name)].weight, h[name], bits, symmetric)
        ref = fake_quant(w, lo[:, None], hi[:, None], bits, symmetric)
        assert torch.allclose(got[name].reshape(w.shape).double(), ref, atol=1e-6 * float(w.abs().max()))


def test_inputs_weigh_the_error_so_the_layer_output_error_drops():
    """One input 30x larger than the rest: its weights must be kept, not clipped away with the bulk."""
    torch.manual_seed(0)
    layer = nn.Sequential(nn.Linear(32, 16, bias=False)).eval()
    x = torch.randn(512, 32) * 0.1
    x[:, 0] *= 30
    with torch.no_grad():
        out = layer(x)
        err = {s: float((quantize_weights(layer, 2, s, calibration=x, bias_correction=False)(x) - out)
                        .pow(2).mean()) for s in ("paper-mse", "paper-awmse")}
    assert err["paper-awmse"] < 0.8 * err["paper-mse"], err


def test_needs_calibration_and_leaves_its_argument_alone():
    model = _model()
    with pytest.raises(ValueError, match="needs calibration data"):
        quantize_weights(model, 2, "paper-awmse")
    split = split_layers(model)
    before = {k: v.clone() for k, v in split.state_dict().items()}
    q = quantize_weights(split, 2, "paper-awmse", calibration=torch.rand(32, 2, 6, 6), bias_correction=False)
    assert all(torch.equal(before[k], v) for k, v in split.state_dict().items())
    # Each branch's zeros (the other clusters' weights) stay exactly zero: the grid includes 0.
    for name, w in _weights(q).items():
        float_w = split.get_submodule(name).weight
        assert torch.all(w[float_w == 0] == 0), name


def test_conv1d_and_transformer_shaped_inputs_are_weighed():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 10, 2)).eval()
    x = torch.rand(16, 3, 10)
    h = input_mean_squares(model, {"0": model[0], "2": model[2]}, x)
    assert h["0"].shape == (3 * 3,) and h["2"].shape == (40,)
    seq = nn.Sequential(nn.Linear(8, 4)).eval()
    hs = input_mean_squares(seq, {"0": seq[0]}, torch.ones(5, 7, 8) * 2)  # [N, T, C] tokens
    assert torch.allclose(hs["0"], torch.full((8,), 4.0, dtype=torch.float64))
    q = quantize_weights(model, 2, "paper-awmse", calibration=x, bias_correction=False)
    assert len(quant_layers(q)) == 2
