"""A real Lava run (lava-nc fixed_pt in .venv-lava), compared spike for spike with snn-fast.

Small enough for CI: a converted conv -> avgpool -> conv(stride 2) -> dense -> dense network on
6x6x2 inputs, 2 samples, 20 + 5 steps, once per reset mode (about 10-20 s each on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuroedge.converters.snn import convert_model
from neuroedge.snn import encoding
from neuroedge.targets.loihi import fast
from neuroedge.targets.loihi import lava as lava_host
from neuroedge.targets.loihi.lava import LavaError, lava_status, run_lava
from tests.conftest import small_snn_model

pytestmark = [pytest.mark.lava, pytest.mark.slow]


def _require_lava() -> None:
    status = lava_status()
    if status is not True:
        pytest.skip(str(status))


def _small_net(reset: str):
    model = small_snn_model()
    rng = np.random.default_rng(0)
    x = rng.random((40, 2, 6, 6)).astype(np.float32)
    conv = convert_model(model, x, reset=reset)
    return conv, x


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_lava_matches_fast_spike_for_spike(reset: str) -> None:
    _require_lava()
    conv, x = _small_net(reset)
    net = conv.network
    spikes = encoding.encode(x[:2], net.input_scale, 20 + net.depth)
    ref = fast.simulate(net, spikes, record=True)
    got = run_lava(net, spikes, record=tuple(range(net.depth)), timeout_s=300)
    compared = 0
    for i in range(net.depth):
        assert got.spikes[i].shape == ref.spikes[i].shape
        mismatches = int((got.spikes[i] != ref.spikes[i]).sum())
        assert mismatches == 0, f"layer {i} ({net.layers[i].name}): {mismatches} spike mismatches"
        compared += int(ref.spikes[i].sum())
    assert compared > 100, "too few spikes to compare: the test network is silent"
    assert any(layer.kind == "conv" for layer in net.layers)
    np.testing.assert_array_equal(got.v_out, ref.v_out)
    np.testing.assert_allclose(got.readout, ref.readout)


def _worker_processes() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if b"neuroedge-lava-" in cmd and b"lava_worker.py" in cmd:
                pids.append(int(d.name))
    return pids


def test_worker_crash_reports_stderr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _require_lava()
    bad = tmp_path / "lava_worker.py"
    bad.write_text("import sys\nprint('boom: the worker failed on purpose', file=sys.stderr)\nsys.exit(3)\n")
    monkeypatch.setattr(lava_host, "WORKER", bad)
    conv, x = _small_net("subtract")
    with pytest.raises(LavaError, match="exit 3") as err:
        run_lava(conv.network, encoding.encode(x[:1], 1.0, 5), timeout_s=60)
    assert "boom: the worker failed on purpose" in str(err.value)


def test_worker_timeout_kills_everything(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _require_lava()
    slow = tmp_path / "lava_worker.py"
    # A worker that forks a child (as Lava does) and hangs.
    slow.write_text("import os, sys, time\nprint('starting', file=sys.stderr, flush=True)\n"
                    "os.fork()\ntime.sleep(120)\n")
    monkeypatch.setattr(lava_host, "WORKER", slow)
    conv, x = _small_net("subtract")
    with pytest.raises(LavaError, match="timed out") as err:
        run_lava(conv.network, encoding.encode(x[:1], 1.0, 5), timeout_s=3)
    assert "starting" in str(err.value)
    assert _worker_processes() == [], "worker processes outlived the timeout"



def test_loihi_sim_runner_gives_snn_fast_scores(tmp_path: Path) -> None:
    _require_lava()
    from neuroedge.converters.snn import CONVERTER, SNNParams
    from neuroedge.registry import open_runner

    _, x = _small_net("subtract")
    np.save(tmp_path / "calib.npy", x)
    bundle = CONVERTER.convert(small_snn_model(), SNNParams(calibration=str(tmp_path / "calib.npy")), tmp_path / "b", False)
    lava_runner = open_runner(bundle, "loihi-sim", {"timesteps": 12})
    fast_runner = open_runner(bundle, "snn-fast", {"timesteps": 12})
    (got,) = lava_runner.run([x[:2]])
    (ref,) = fast_runner.run([x[:2]])
    np.testing.assert_array_equal(got, ref)
    assert lava_runner.settings()["steps_run"] == 12 + 5
