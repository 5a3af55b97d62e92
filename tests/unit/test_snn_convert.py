"""to-snn: the check, BN folding, normalisation, fixed point, the bundle, NIR and the accuracy goals."""

from __future__ import annotations

import warnings
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from torch import nn

from neuroedge.bundle import load
from neuroedge.converters.snn import CONVERTER, SNNParams, convert_model
from neuroedge.converters.snn.check import UnsupportedModelError, check_model
from neuroedge.converters.snn.fixed_point import RepresentationWarning, quantise_layer
from neuroedge.converters.snn.float_snn import simulate_float
from neuroedge.converters.snn.layers import FloatLayer
from neuroedge.converters.snn.normalize import ann_forward, extract_layers, normalise
from neuroedge.converters.snn.report import layer_report
from neuroedge.data.digits import load_digits_split
from neuroedge.registry import open_runner
from neuroedge.snn import encoding
from neuroedge.snn.network import DenseLayer, LIFParams, SNNNetwork
from neuroedge.snn.resources import LOIHI1, LOIHI2, layer_cores
from neuroedge.targets.loihi import fast


def test_check_lists_every_unsupported_layer_with_its_index() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(4, 2),
    )
    issues = check_model(model)
    by_index = {i.index: i for i in issues}
    assert 2 in by_index and "MaxPool" in by_index[2].reason and "AvgPool2d" in by_index[2].reason
    assert 3 in by_index and "not followed by a ReLU" in by_index[3].reason
    assert 4 in by_index and "unsupported layer type" in by_index[4].reason
    with pytest.raises(UnsupportedModelError, match="layer 2 "):
        convert_model(model, np.random.rand(4, 1, 8, 8))


def test_check_traces_non_sequential_models() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 8)
            self.b = nn.Linear(8, 2)

        def forward(self, x):
            return self.b(torch.tanh(self.a(x)))

    issues = check_model(Net())
    assert [i.index for i in issues] == [0, 1]  # a: no ReLU after it; 1: tanh
    assert "tanh" in str(issues[1])


@pytest.mark.parametrize("norm", ["layer", "channel"])
@pytest.mark.parametrize("pool", ["fold", "spiking"])
def test_batchnorm_and_avgpool_are_folded_exactly(pool: str, norm: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 2 * 2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.rand(64, 2, 9, 9)  # odd size: the pools drop a row and a column
    model.train()
    model(x)  # give BN non-trivial running statistics
    model.eval()
    stages = extract_layers(model, (2, 9, 9), pool)
    assert len(stages) == (5 if pool == "fold" else 6)  # 9x9: the first pool cannot fold into a conv
    layers, scale = normalise(stages, x.numpy(), norm=norm)
    got = ann_forward(layers, x.numpy(), scale)[-1] * layers[-1].scale
    with torch.inference_mode():
        np.testing.assert_allclose(got, model(x).numpy(), atol=1e-5)


def test_unrepresentable_bias_warns_and_clips() -> None:
    layer = FloatLayer("big", "dense", np.full((2, 3), 0.01), np.array([0.0, 50.0]), 1.0, (3,))
    with pytest.warns(RepresentationWarning, match="biases"):
        q = quantise_layer(layer)
    assert q.bias_mant.max() == 4095 and q.bias_exp == 7


def test_dense_uses_a_weight_exponent_for_small_weights() -> None:
    layer = FloatLayer("small", "dense", np.full((2, 3), 0.004), np.zeros(2), 1.0, (3,))
    q = quantise_layer(layer)
    assert q.weight_exp < 0 and q.vth <= 8192
    np.testing.assert_allclose(q.effective_weight(), layer.weight, rtol=0.02)


def test_core_counts_follow_the_rule() -> None:
    w = np.ones((512, 2048), np.int64) * 2
    layer = DenseLayer("d", w, 0, LIFParams(vth=10, bias_mant=np.zeros(512)))
    # Loihi 1: synapse memory binds: 9 cores would hold ceil(512/9) = 57 neurons * 2048 * 9 bits
    # = 1,050,624 bits > 1,048,576; 10 cores hold 52 each.
    assert layer_cores(layer, LOIHI1) == 10
    assert layer_cores(layer, LOIHI2) == 2  # 7.5 Mbit per core assumed


@pytest.fixture(scope="module")
def digits_mlp():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: threads only contend on a shared 2-core machine
    x_tr, y_tr, x_te, y_te = load_digits_split(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    for _ in range(30):
        for idx in torch.randperm(len(xt)).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    torch.set_num_threads(threads)
    with torch.inference_mode():
        acc = float((model(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean() * 100)
    return model, x_tr, x_te, y_te, acc


def test_digits_mlp_meets_the_accuracy_goals(digits_mlp) -> None:
    model, x_tr, x_te, y_te, dnn_acc = digits_mlp
    conv = convert_model(model, x_tr[:500])
    net = conv.network
    accs = {}
    for t in (64, 256):
        r = fast.simulate(net, encoding.encode(x_te, net.input_scale, t + net.depth))
        accs[t] = float((r.readout.argmax(1) == y_te).mean() * 100)
    assert dnn_acc > 93
    assert accs[256] >= dnn_acc - 1.0, (dnn_acc, accs)
    assert accs[64] >= dnn_acc - 2.0, (dnn_acc, accs)
    readout, _, _ = simulate_float(conv.float_layers, x_te, conv.input_scale, 64 + net.depth)
    assert float((readout.argmax(1) == y_te).mean() * 100) >= dnn_acc - 2.0


def test_layer_report_shows_where_rates_follow_activations(digits_mlp) -> None:
    model, x_tr, x_te, _, _ = digits_mlp
    conv = convert_model(model, x_tr[:300])
    r = fast.simulate(conv.network, encoding.encode(x_te[:100], conv.input_scale, 128 + 2))
    rows = layer_report(conv.float_layers, conv.input_scale, x_te[:100], r.counts, r.readout, 128)
    assert len(rows) == 2 and rows[0]["correlation"] > 0.99 and rows[0]["mean_abs_error"] < 0.02


def test_bundle_runner_and_nir_roundtrip(digits_mlp, tmp_path: Path) -> None:
    model, x_tr, x_te, y_te, dnn_acc = digits_mlp
    calib = tmp_path / "calib.npy"
    np.save(calib, x_tr[:300])
    params = SNNParams(calibration=str(calib), timesteps=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RepresentationWarning)
        bundle = CONVERTER.convert(model, params, tmp_path / "snn", False)
    bundle = load(bundle.path)
    assert bundle.format == "snn-loihi" and bundle.manifest.chain[0].converter == "to-snn"
    assert bundle.manifest.metrics["loihi1_cores"] >= 2
    runner = open_runner(bundle, "snn-fast")
    (scores,) = runner.run([x_te[:200]])
    assert scores.shape == (200, 10)
    assert float((scores.argmax(1) == y_te[:200]).mean() * 100) >= dnn_acc - 4
    res = runner.resources()
    assert res["synops_per_sample"] > 0 and res["energy_uj_per_sample"] > 0 and res["loihi2_cores"] >= 2
    graph = nir.read(str(bundle.file("model.nir")))
    assert set(graph.nodes) == {"input", "l0_dense_syn", "l0_dense_if", "l1_dense_syn", "l1_dense_if", "output"}
    assert ("l0_dense_syn", "l0_dense_if") in [tuple(e) for e in graph.edges]
    from neuroedge.converters.snn.nir_export import build_graph

    ref = build_graph(convert_model(model, x_tr[:300]).quant_layers, (64,))
    for name in ("l0_dense_syn", "l1_dense_syn"):
        np.testing.assert_array_equal(graph.nodes[name].weight, ref.nodes[name].weight)
        np.testing.assert_array_equal(graph.nodes[name].bias, ref.nodes[name].bias)


def test_runner_checks_the_input_shape(digits_mlp, tmp_path: Path) -> None:
    model, x_tr, *_ = digits_mlp
    np.save(tmp_path / "c.npy", x_tr[:100])
    bundle = CONVERTER.convert(model, SNNParams(calibration=str(tmp_path / "c.npy")), tmp_path / "b", False)
    runner = open_runner(bundle, "snn-fast", {"timesteps": 8})
    with pytest.raises(ValueError, match="shape"):
        runner.run([np.zeros((2, 65), np.float32)])


def test_negative_inputs_are_refused() -> None:
    model = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(ValueError, match="negative"):
        convert_model(model, -np.ones((3, 4)))


def test_snn_network_needs_consistent_sizes() -> None:
    lif = LIFParams(vth=1, bias_mant=np.zeros(2))
    with pytest.raises(ValueError, match="takes 3 inputs"):
        SNNNetwork((4,), (DenseLayer("d", np.zeros((2, 3)), 0, lif),))


def test_nir_export_of_a_cnn_keeps_torch_layout(tmp_path: Path) -> None:
    from neuroedge.converters.snn.nir_export import write_nir

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 3 * 3, 5)).eval()
    conv = convert_model(model, np.random.default_rng(0).random((20, 2, 6, 6)))
    write_nir(conv.quant_layers, (2, 6, 6), tmp_path / "m.nir")
    graph = nir.read(str(tmp_path / "m.nir"))
    assert isinstance(graph.nodes["l0_conv_syn"], nir.Conv2d) and isinstance(graph.nodes["l2_dense_flatten"], nir.Flatten)
    for fl in conv.float_layers:
        got = graph.nodes[f"{fl.name}_syn"].weight
        # The exported weights are the fixed-point ones: within half an 8-bit step of the float ones.
        assert np.abs(got - fl.weight).max() <= np.abs(fl.weight).max() / 127 + 1e-9


def test_fast_runner_benchmark_is_short(digits_mlp, tmp_path: Path) -> None:
    from neuroedge.bench import BenchConfig

    model, x_tr, x_te, *_ = digits_mlp
    np.save(tmp_path / "c.npy", x_tr[:100])
    bundle = CONVERTER.convert(model, SNNParams(calibration=str(tmp_path / "c.npy")), tmp_path / "b", False)
    runner = open_runner(bundle, "snn-fast", {"timesteps": 16})
    rep = runner.benchmark([x_te[:20]], BenchConfig(progress=False))
    assert rep.iterations == 10 and rep.batch == 20 and rep.to_json()["throughput_per_s"] > 0
