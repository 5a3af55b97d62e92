"""Lava (lava-nc 0.10 fixed_pt, in .venv-lava) against snn-fast: the even-weight rule's reproduction,
the graded-message impulse checks, and a sigma-delta conv network message for message."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from neuroedge.converters.snn import convert_model
from neuroedge.snn.network import DenseLayer, LIFParams, SNNNetwork, save_network
from neuroedge.snn.sigma_delta import InputDelta, SigmaDeltaParams
from neuroedge.targets.loihi import fast_sd
from neuroedge.targets.loihi.lava import WORKER, lava_python, lava_status, run_lava_sd

pytestmark = [pytest.mark.lava, pytest.mark.slow]


def _require_lava() -> None:
    status = lava_status()
    if status is not True:
        pytest.skip(str(status))


def test_lava_rounds_odd_dense_weights_of_both_signs(tmp_path: Path) -> None:
    """The issue's reproduction: [[3, -2]], vth 5, reset to zero, input 0 spiking every step.
    The network API refuses [[3, -2]], so the file is edited behind its back to show what Lava does."""
    _require_lava()
    lif = LIFParams(vth=5, bias_mant=np.zeros(1), reset="zero")
    save_network(SNNNetwork((2,), (DenseLayer("d", np.array([[2, -2]]), 0, lif),)), tmp_path)
    with np.load(tmp_path / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["w0"] = np.array([[3, -2]], np.int16)
    np.savez(tmp_path / "weights.npz", **arrays)
    spikes = np.zeros((1, 8, 2), bool)
    spikes[:, :, 0] = True
    np.save(tmp_path / "spikes.npy", spikes)
    (tmp_path / "request.json").write_text(json.dumps({"steps": 8, "record": [0]}))
    shutil.copy(WORKER, tmp_path / WORKER.name)
    subprocess.run([str(lava_python()), WORKER.name, str(tmp_path)], cwd=tmp_path, check=True,
                   capture_output=True, timeout=300)
    with np.load(tmp_path / "result.npz") as z:
        got = z["spikes0"][0, :, 0].astype(int).tolist()
    assert got == [0, 0, 0, 1, 0, 0, 1, 0]  # = snn-fast with [[2, -2]] (tests/unit/test_snn_sigma_delta.py)


def test_graded_impulses_in_lava(tmp_path: Path) -> None:
    """Delta -> Dense (graded, mixed-sign weights truncated to even) -> SigmaDelta (unit, bias 5,
    state_exp 2): messages 5, 0, 50, -25, -32 (floor), 0, as snn-fast computes them by hand."""
    _require_lava()
    layer = DenseLayer("d", np.array([[2, -2]]), 0, SigmaDeltaParams(vth=0, bias=np.array([5]), state_exp=2,
                                                                    activation="unit"))
    net = SNNNetwork((2,), (layer,), input_delta=InputDelta(vth=10, frac_bits=0))
    values = np.array([[[0, 0], [100, 0], [100, 50], [37, 50], [37, 50], [0, 1000]]])
    got = run_lava_sd(net, values, timeout_s=300)
    assert got.rasters[-1][0].tolist() == [[0, 0], [100, 0], [0, 50], [-63, 0], [0, 0], [-37, 950]]
    assert got.rasters[0][0, :, 0].tolist() == [5, 0, 50, -25, -32, 0]


def test_sigma_delta_conv_network_matches_lava_message_for_message() -> None:
    """conv -> avgpool -> conv(stride 2) -> dense -> dense, two streams of 6 frames (+5 steps), graded
    messages compared on every layer, conv included; the impulse in Conv (true convolution, no
    weight_exp, 24-bit wrap) is part of it."""
    _require_lava()
    import torch
    from torch import nn

    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(6 * 2 * 2, 12), nn.ReLU(), nn.Linear(12, 3),
    ).eval()
    rng = np.random.default_rng(0)
    x = rng.random((40, 2, 6, 6)).astype(np.float32)
    net = convert_model(model, x, neuron="sigma-delta", delta_threshold=0.02).network
    values, _ = fast_sd.streams_from_groups(x[:12], np.repeat([0, 1], 6), net)
    ref = fast_sd.simulate_sd(net, values, record=True)
    got = run_lava_sd(net, values, timeout_s=600)
    compared = 0
    for li in range(-1, net.depth):
        np.testing.assert_array_equal(ref.rasters[li], got.rasters[li], err_msg=f"layer {li}")
        compared += int(np.count_nonzero(ref.rasters[li]))
    assert compared > 500
    np.testing.assert_array_equal(ref.readout, got.readout)
