"""The even-weight rule for Dense, the sigma-delta layer kind, and snn-fast's sigma-delta arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neuroedge.converters.snn import convert_model
from neuroedge.converters.snn.normalize import ann_forward
from neuroedge.converters.snn.report import xyc_to_chw_flat
from neuroedge.snn.network import (
    DenseLayer,
    LIFParams,
    NetworkError,
    SNNNetwork,
    lava_dense_weights,
    load_network,
    save_network,
)
from neuroedge.snn.sigma_delta import InputDelta, SigmaDeltaParams
from neuroedge.targets.loihi import fast, fast_sd
from tests.conftest import small_snn_model


def test_dense_rejects_odd_weights_of_both_signs() -> None:
    # The reproduction: [[3, -2]] is stored by Lava as [[2, -2]] (see tests/integration/test_snn_sdnn_lava.py).
    with pytest.raises(NetworkError, match=r"both signs must be even.*3 -> 2"):
        DenseLayer("d", np.array([[3, -2]]), 0, LIFParams(vth=5, bias_mant=np.zeros(1), reset="zero"))
    with pytest.raises(NetworkError, match="both signs must be even"):
        DenseLayer("d", np.array([[3, -2]]), 0, SigmaDeltaParams(vth=0, bias=np.zeros(1)))
    DenseLayer("d", np.array([[3, 5]]), 0, LIFParams(vth=5, bias_mant=np.zeros(1)))  # one sign: Lava keeps odd
    np.testing.assert_array_equal(lava_dense_weights(np.array([[3, -2, -3, 255, 7]])), [[2, -2, -4, 254, 6]])
    np.testing.assert_array_equal(lava_dense_weights(np.array([[3, 255, 7]])), [[3, 255, 7]])


def test_even_weights_reproduction_in_snn_fast() -> None:
    # [[2, -2]], vth 5, reset to zero, input 0 spiking every step: what Lava gives for [[3, -2]].
    net = SNNNetwork((2,), (DenseLayer("d", np.array([[2, -2]]), 0,
                                       LIFParams(vth=5, bias_mant=np.zeros(1), reset="zero")),))
    spikes = np.zeros((1, 8, 2), bool)
    spikes[:, :, 0] = True
    res = fast.simulate(net, spikes, record=(0,))
    assert res.spikes[0][0, :, 0].astype(int).tolist() == [0, 0, 0, 1, 0, 0, 1, 0]


def test_sigma_delta_params_are_checked() -> None:
    with pytest.raises(NetworkError, match="state_exp"):
        SigmaDeltaParams(vth=1, bias=np.zeros(2), state_exp=8)
    with pytest.raises(NetworkError, match="vth"):
        SigmaDeltaParams(vth=-1, bias=np.zeros(2))
    with pytest.raises(NetworkError, match="bias"):
        SigmaDeltaParams(vth=1, bias=np.array([1 << 20]), state_exp=7)
    with pytest.raises(NetworkError, match="activation"):
        SigmaDeltaParams(vth=1, bias=np.zeros(2), activation="tanh")  # type: ignore[arg-type]
    sd = DenseLayer("a", np.array([[2]]), 0, SigmaDeltaParams(vth=0, bias=np.zeros(1)))
    lif = DenseLayer("b", np.array([[2]]), 0, LIFParams(vth=5, bias_mant=np.zeros(1)))
    with pytest.raises(NetworkError, match="all LIF or all sigma-delta"):
        SNNNetwork((1,), (sd, lif), input_delta=InputDelta())
    with pytest.raises(NetworkError, match="needs input_delta"):
        SNNNetwork((1,), (sd,))


def test_sigma_delta_arithmetic_by_hand() -> None:
    # The impulse checked in Lava (tests/integration): input Delta vth 10, Dense [[2, -2]], SigmaDelta
    # unit activation, bias 5, state_exp 2, vth 0 -> messages 5, 0, 50, -25, -32, 0 (floor shift).
    layer = DenseLayer("d", np.array([[2, -2]]), 0, SigmaDeltaParams(vth=0, bias=np.array([5]), state_exp=2,
                                                                    activation="unit"))
    net = SNNNetwork((2,), (layer,), input_delta=InputDelta(vth=10, frac_bits=0))
    values = np.array([[[0, 0], [100, 0], [100, 50], [37, 50], [37, 50], [0, 1000]]])
    res = fast_sd.simulate_sd(net, values, record=True)
    assert res.rasters[-1][0].tolist() == [[0, 0], [100, 0], [0, 50], [-63, 0], [0, 0], [-37, 950]]
    assert res.rasters[0][0, :, 0].tolist() == [5, 0, 50, -25, -32, 0]


def test_sigma_delta_conversion_tracks_the_dnn(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((40, 2, 6, 6)).astype(np.float32)
    conv = convert_model(small_snn_model(), x, neuron="sigma-delta", delta_threshold=0.0)
    net = conv.network
    save_network(net, tmp_path)
    net2 = load_network(tmp_path)
    assert net2.neuron == "sigma-delta" and net2.input_delta == net.input_delta
    # one stream of 10 frames: every layer's running sum is its DNN activation, read with its delay
    res = fast_sd.simulate_sd(net2, fast_sd.stream(x[:10], net2), record=True)
    ref = ann_forward(conv.float_layers, x[:10], conv.input_scale)
    units = net.meta["message_units"]
    for li, fl in enumerate(conv.float_layers):
        cum = np.cumsum(res.rasters[li][0].astype(np.int64), axis=0)
        got = xyc_to_chw_flat(cum[np.arange(10) + li + 1] * units[li], fl.out_shape)
        assert np.abs(got - ref[li]).max() < 0.1 * max(1.0, np.abs(ref[li]).max()), fl.name
    scores, _ = fast_sd.run_frames(net2, x[:10])
    dnn = small_snn_model()(torch.from_numpy(x[:10])).argmax(1).numpy()
    assert (scores.argmax(1) == dnn).mean() >= 0.9
    # a threshold sends fewer messages
    sparse = convert_model(small_snn_model(), x, neuron="sigma-delta", delta_threshold=0.1).network
    _, res2 = fast_sd.run_frames(sparse, x[:10])
    assert sum(v.sum() for v in res2.messages.values()) < sum(v.sum() for v in res.messages.values())


def test_runner_resources_average_every_run(tmp_path: Path) -> None:
    """A sweep reads synops from resources(): the mean over every run() of the evaluation, not the last."""
    from neuroedge.bundle import load
    from neuroedge.converters.snn import CONVERTER, SNNParams
    from neuroedge.registry import open_runner

    x = np.random.default_rng(1).random((20, 2, 6, 6)).astype(np.float32)
    np.save(tmp_path / "c.npy", x)
    params = SNNParams(calibration=str(tmp_path / "c.npy"), neuron="sigma-delta", delta_threshold=0.01)
    bundle = load(CONVERTER.convert(small_snn_model(), params, tmp_path / "sd", False).path)
    runner = open_runner(bundle, "snn-fast")
    assert "synops_per_frame" not in runner.resources()
    for i in range(3):
        runner.run([x[i:i + 1]])
    net = load_network(bundle.path)
    want = np.mean([fast_sd.run_frames(net, x[i:i + 1])[1].synops.sum() for i in range(3)])
    res = runner.resources()
    assert res["synops_per_frame"] == pytest.approx(want) and res["messages_per_frame"] > 0


def test_capped_shift_keeps_weight_bits_in_dense_and_pools_exact() -> None:
    """A Dense layer whose state_exp is capped at 7 keeps 8-bit weights with a negative weight_exp (the
    same effective weights as the coarse layout); a one-weight (AvgPool) layer is scaled to be exact."""
    from neuroedge.converters.snn.layers import FloatLayer
    from neuroedge.converters.snn.sigma_delta import quantise_sd

    rng = np.random.default_rng(0)
    wf = rng.normal(0, 0.03, (8, 64))
    dense = FloatLayer("d", "dense", wf, np.zeros(8), 1.0, (64,))
    u = 2.0 ** -13
    w0, n0, unit0, e0 = quantise_sd(dense, u, 0.0, False, dense_exp=False)
    w1, n1, unit1, e1 = quantise_sd(dense, u, 0.0, False, dense_exp=True)
    assert n0.state_exp == n1.state_exp == 7 and unit0 == unit1 and e0 == 0 and e1 < 0
    assert np.abs(w1).max() > 127 > 4 * np.abs(w0).max() and np.all(w1 % 2 == 0)
    sigma_unit = unit1 / 2.0 ** n1.state_exp
    err = lambda w, e: np.abs(w * 2.0 ** e * sigma_unit / u - wf).max()  # noqa: E731
    assert err(w1, e1) < err(w0, e0) / 4
    pool_w = np.zeros((2, 2, 2, 2))
    pool_w[0, 0], pool_w[1, 1] = 0.2737, 0.2737
    pool = FloatLayer("p", "conv", pool_w, np.zeros(2), 1.0, (2, 4, 4), stride=(2, 2))
    wp, npool, unitp, _ = quantise_sd(pool, u, 0.0, False)
    assert len(np.unique(wp[wp != 0])) == 1
    assert wp.max() * unitp / 2.0 ** npool.state_exp == pytest.approx(0.2737 * u, rel=1e-12)
