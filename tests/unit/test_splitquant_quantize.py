"""brevitas quantisation for SplitQuant: real quantisation of every layer, same quantiser, no side effects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from examples.digits.models import digits_cnn, digits_mlp
from examples.models.tiny_transformer import tiny_transformer
from neuroedge.converters.splitquant import (
    NoQuantisableLayerError,
    SplitQuantWarning,
    quantize_weights,
    split_layers,
)
from neuroedge.converters.splitquant.quantize import quant_layers
from neuroedge.data.digits import load_digits_split


def _float_reference(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the layer would output with its float weights (brevitas keeps them in ``.weight``)."""
    if isinstance(layer, nn.Linear):
        return nn.functional.linear(x, layer.weight, layer.bias)
    return layer._conv_forward(x, layer.weight, layer.bias)


@pytest.mark.parametrize("bits,split", [(8, False), (2, True)])
def test_quantising_changes_every_quantised_layer_output_in_the_transformer(bits, split):
    """The transformer trap: a fused fast path would leave outputs exactly FP32."""
    torch.manual_seed(0)
    model = tiny_transformer().eval()
    q = quantize_weights(split_layers(model) if split else model, bits, "paper")
    layers = quant_layers(q)
    # 2 layers x (q, k, v, out, ffn_in, ffn_out) + embed + classifier, three copies each when split
    assert len(layers) == 14 * (3 if split else 1)
    seen: dict[str, float] = {}

    def hook(name):
        def fn(mod, inp, out):
            seen[name] = float((out - _float_reference(mod, inp[0])).abs().max())
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in layers.items()]
    x = torch.rand(8, 64)
    with torch.no_grad():
        y_q, y_fp = q(x), model(x)
    for h in handles:
        h.remove()
    assert set(seen) == set(layers)
    assert all(d > 0 for d in seen.values()), {n: d for n, d in seen.items() if d == 0}
    assert (y_q - y_fp).abs().max() > 0


def test_neither_function_modifies_its_argument():
    torch.manual_seed(0)
    model = digits_cnn().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    types_before = [type(m) for m in model.modules()]
    split = split_layers(model)
    split_before = {k: v.clone() for k, v in split.state_dict().items()}
    quantize_weights(model, 2)
    quantize_weights(split, 4, "paper")
    assert [type(m) for m in model.modules()] == types_before
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(split_before[k], v) for k, v in split.state_dict().items())
    assert not quant_layers(split) and not quant_layers(model)


def test_int2_asymmetric_has_four_levels_not_three():
    torch.manual_seed(0)
    q = quantize_weights(nn.Sequential(nn.Linear(64, 16)), 2, "asym-per-channel")
    codes = q[0].quant_weight().int()
    assert set(codes.unique().tolist()) <= {0, 1, 2, 3}
    assert max(len(row.unique()) for row in codes) == 4
    q8 = quantize_weights(nn.Sequential(nn.Linear(64, 16)), 8, "paper")
    assert q8[0].quant_weight().signed and int(q8[0].quant_weight().int().abs().max()) <= 127


def test_a_bare_layer_is_quantised_too():
    layer = nn.Linear(16, 4)
    q = quantize_weights(layer, 2)
    assert len(quant_layers(q)) == 1 and type(layer) is nn.Linear


@pytest.mark.parametrize("bits", [1, 9, 0, 2.5, True])
def test_bits_outside_2_to_8_are_refused(bits):
    with pytest.raises(ValueError, match="bits must be an integer in 2..8"):
        quantize_weights(digits_mlp(), bits)


def test_no_quantisable_layer_is_a_clear_error():
    with pytest.raises(NoQuantisableLayerError, match="no nn.Linear"):
        quantize_weights(nn.Sequential(nn.ReLU()), 4)


def test_layer_brevitas_cannot_quantise_is_named_and_left_in_float():
    model = nn.Sequential(nn.Linear(8, 8), nn.MultiheadAttention(8, 2, batch_first=True))
    with pytest.warns(SplitQuantWarning, match=r"'1' \(MultiheadAttention\)"):
        q = quantize_weights(model, 4)
    assert type(q[1]) is nn.MultiheadAttention and list(quant_layers(q)) == ["0"]


def test_activation_scheme_needs_and_uses_calibration():
    torch.manual_seed(0)
    model = digits_mlp().eval()
    with pytest.raises(ValueError, match="needs calibration data"):
        quantize_weights(model, 8, "sym-per-tensor-act8")
    calib = torch.rand(64, 64)
    q = quantize_weights(split_layers(model), 8, "sym-per-tensor-act8", calibration=calib)
    with torch.no_grad():
        assert (q(calib) - model(calib)).abs().max() < 0.05 * model(calib).abs().max()


@pytest.fixture()
def one_thread():
    """Tiny models train faster on one thread, and much faster on a shared, loaded CI machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train_mlp(seed: int = 0, epochs: int = 30) -> tuple[nn.Module, tuple]:
    torch.manual_seed(seed)
    data = load_digits_split(seed)
    model = digits_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval(), data


def _acc(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean() * 100)


def test_splitquant_beats_plain_at_int2_and_matches_it_at_int4_int8_on_a_trained_mlp(one_thread):
    model, (_, _, x_te, y_te) = _train_mlp()
    fp32 = _acc(model, x_te, y_te)
    split = split_layers(model)
    acc = {
        (bits, s): _acc(quantize_weights(split if s else model, bits, "paper-mse"), x_te, y_te)
        for bits in (8, 4, 2) for s in (False, True)
    }
    assert acc[(2, True)] >= fp32 - 1.5, (fp32, acc)
    assert acc[(2, True)] >= acc[(2, False)] + 1.0, acc
    for bits in (8, 4):
        assert acc[(bits, True)] >= acc[(bits, False)] - 0.3, acc


def test_graph_mode_matches_layerwise_on_a_traceable_model():
    torch.manual_seed(0)
    model = digits_mlp().eval()
    with pytest.raises(ValueError, match="mode='graph' does not take split models"):
        quantize_weights(split_layers(model), 4, mode="graph")
    x = torch.rand(4, 64)
    with torch.no_grad():
        a = quantize_weights(model, 4, "paper", mode="graph")(x)
        b = quantize_weights(model, 4, "paper")(x)
    assert torch.allclose(a, b, atol=1e-6)
