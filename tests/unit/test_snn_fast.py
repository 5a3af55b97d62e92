"""snn-fast's arithmetic, encoding, layout and network format (no Lava needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from neuroedge.snn import encoding
from neuroedge.snn.network import (
    ConvLayer,
    DenseLayer,
    LIFParams,
    NetworkError,
    SNNNetwork,
    load_network,
    save_network,
)
from neuroedge.targets.loihi import fast
from neuroedge.targets.loihi.lava import LavaError, lava_status, run_lava


def test_current_wrap_is_lavas_single_wrap() -> None:
    m = 1 << 23
    u = np.array([m, m + 1, -m, -m + 1, 3 * m + 5, -(m + 7)], dtype=np.int64)
    # lava/proc/lif/models.py: > 2^23 loses 2^24 once; <= -2^23 gains 2^24 once (so -2^23 -> +2^23).
    np.testing.assert_array_equal(fast.wrap_current(u), [m, -m + 1, m, -m + 1, m + 5, m - 7])


def test_signed_clamp24_wraps_like_lava_conv() -> None:
    x = np.array([0, (1 << 23) - 1, 1 << 23, -(1 << 23), -(1 << 23) - 1, 3 << 23], dtype=np.int64)
    base = 1 << 24
    expect = (x + base // 2) % base - base // 2  # lava.proc.conv.utils.signed_clamp
    np.testing.assert_array_equal(fast.signed_clamp24(x), expect)


def test_decay_rounds_toward_zero() -> None:
    x = np.array([-4097, -1, 0, 1, 4097], dtype=np.int64)
    np.testing.assert_array_equal(fast.decay(x, 2048), [-2048, 0, 0, 0, 2048])


def test_encoding_counts_and_determinism() -> None:
    x = np.array([[0.0, 0.25, 0.5, 1.0, 2.0, 0.1]], dtype=np.float32)
    s = encoding.encode(x, 1.0, 64)
    np.testing.assert_array_equal(s.sum(axis=1)[0], [0, 16, 32, 64, 64, (128 + 64 * 26) // 256])
    assert np.array_equal(s, encoding.encode(x, 1.0, 64))


def test_encoding_uses_xyc_order() -> None:
    x = np.zeros((1, 2, 3, 4), np.float32)  # C, H, W
    x[0, 1, 2, 3] = 1.0  # c=1, y=2, x=3
    flat = encoding.rate_levels(x, 1.0)[0]
    # XYC flat index: (x * H + y) * C + c
    assert np.flatnonzero(flat).tolist() == [(3 * 3 + 2) * 2 + 1]


def _lif(n: int, vth: int, reset: str = "subtract", bias: int = 0) -> LIFParams:
    return LIFParams(vth=vth, bias_mant=np.full(n, bias), reset=reset)


def test_subtractive_reset_keeps_the_residue() -> None:
    # One input spiking every step, weight 200, vth 256: the neuron integrates 200/256 threshold per step.
    net_sub = SNNNetwork((1,), (DenseLayer("d", np.array([[200]]), 0, _lif(1, 256)),))
    net_zero = SNNNetwork((1,), (DenseLayer("d", np.array([[200]]), 0, _lif(1, 256, "zero")),))
    s = np.ones((1, 201, 1), bool)
    sub = fast.simulate(net_sub, s).counts[0][0, 0]
    zero = fast.simulate(net_zero, s).counts[0][0, 0]
    assert sub == 156  # 200 steps of input (one step of delay) * 200/256 = 156.25: the exact rate
    assert zero == 100  # reset to zero loses the residue: a spike every second step


def test_pipeline_delay_is_one_step_per_layer() -> None:
    big = DenseLayer("a", np.array([[254]]), 0, _lif(1, 1))
    net = SNNNetwork((1,), (big, DenseLayer("b", np.array([[254]]), 0, _lif(1, 1)),
                            DenseLayer("c", np.array([[254]]), 0, _lif(1, 1))))
    s = np.zeros((1, 8, 1), bool)
    s[0, 0, 0] = True
    r = fast.simulate(net, s, record=True)
    assert [int(np.flatnonzero(r.spikes[i][0, :, 0])[0]) for i in range(3)] == [1, 2, 3]


def _conv_net(rng: np.random.Generator) -> SNNNetwork:
    c1 = ConvLayer("c1", rng.integers(-128, 128, (3, 3, 2, 2)) * 2, (7, 6, 2), (2, 1), (1, 0),
                   _lif(4 * 5 * 3, 40, bias=5))
    return SNNNetwork((7, 6, 2), (c1, DenseLayer("d", rng.integers(-128, 128, (4, 60)) * 2, 1, _lif(4, 60))))


def test_numpy_and_torch_conv_paths_agree() -> None:
    rng = np.random.default_rng(0)
    net = _conv_net(rng)
    syn = fast._Synapse(net.layers[0])
    s = rng.random((5, 7 * 6 * 2)) < 0.4
    img = s.reshape(5, 7, 6, 2)
    np.testing.assert_array_equal(syn._conv_numpy(img).reshape(5, -1), syn._conv_torch(img).reshape(5, -1))


def test_conv_is_a_true_convolution_like_lava() -> None:
    # An impulse at the centre through a true convolution gives the kernel K itself (a torch-style
    # cross-correlation would give K flipped): Lava's scipy convolve2d semantics.
    k = np.zeros((1, 3, 3, 1), np.int64)
    k[0, 0, 0, 0], k[0, 2, 1, 0] = 10, 20
    layer = ConvLayer("c", k, (3, 3, 1), (1, 1), (1, 1), _lif(9, 100))
    s = np.zeros((1, 9), bool)
    s[0, 4] = True
    out = fast._Synapse(layer)(s).reshape(3, 3)
    assert out[0, 0] == 10 and out[2, 1] == 20 and out.sum() == 30


def test_network_roundtrip_and_newer_version(tmp_path: Path) -> None:
    net = _conv_net(np.random.default_rng(1))
    save_network(net, tmp_path)
    back = load_network(tmp_path)
    for a, b in zip(net.layers, back.layers, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.neuron.bias_mant, b.neuron.bias_mant)
    doc = json.loads((tmp_path / "network.json").read_text())
    doc["network_version"] = 99
    (tmp_path / "network.json").write_text(json.dumps(doc))
    with pytest.raises(NetworkError, match="newer than this neuroedge reads"):
        load_network(tmp_path)


def test_out_of_range_parameters_are_refused() -> None:
    with pytest.raises(NetworkError, match="8-bit"):
        DenseLayer("d", np.array([[300]]), 0, _lif(1, 10))
    with pytest.raises(NetworkError, match="17-bit"):
        _lif(1, 1 << 17)
    with pytest.raises(NetworkError, match="13-bit"):
        LIFParams(vth=10, bias_mant=np.array([5000]))


def test_missing_lava_venv_names_make_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROEDGE_LAVA_PYTHON", os.devnull + "-missing/python")
    assert "make setup-lava" in str(lava_status())
    net = SNNNetwork((1,), (DenseLayer("d", np.array([[2]]), 0, _lif(1, 1)),))
    with pytest.raises(LavaError, match="make setup-lava"):
        run_lava(net, np.ones((1, 4, 1), bool))


def test_torch_available_for_fast_conv() -> None:
    assert torch.__version__


def test_conv_fanout_counts_the_nonzero_synapses_of_each_input() -> None:
    rng = np.random.default_rng(2)
    net = _conv_net(rng)
    layer = net.layers[0]
    w = layer.weights.copy()
    w[:, 1] = 0  # some zero synapses, as in an AvgPool kernel
    layer = ConvLayer("c", w, layer.in_shape, layer.stride, layer.padding, layer.neuron)
    syn = fast._Synapse(layer)
    eye = np.eye(layer.in_size, dtype=bool)
    brute = np.count_nonzero(syn(eye), axis=1)  # an impulse reaches exactly its non-zero synapses
    np.testing.assert_array_equal(syn.fanout, brute)
