"""The attitude model: the compiled network equals torch, the scan equals the step, the core, ONNX, training."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from neuroedge.imu import quaternion as quat
from neuroedge.imu.core import core_params, core_scan
from neuroedge.imu.families import ImuConfig, generate
from neuroedge.imu.fast import SHIPPED, AttitudeModel
from neuroedge.imu.network import build_network

SHORT = ImuConfig(duration_s=12.0, rate_hz=100.0)
REPO = Path(__file__).resolve().parents[2]


def _perturbed_net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_network()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net.eval()


def _model(net: torch.nn.Module) -> AttitudeModel:
    return AttitudeModel.from_arrays(net.to_arrays(), core_params([(1.0, 0.6), (3.0, 30.0)], 3.0, 0.1))


def test_compiled_network_equals_torch() -> None:
    net = _perturbed_net()
    seq = generate(3, SHORT)
    got = _model(net).log_sigma_a(seq.acc, seq.gyr, seq.rate_hz)
    with torch.no_grad():
        net64 = net.double()
        want = net64.disturbance(torch.tensor(seq.acc[None]), torch.tensor(seq.gyr[None]),
                                 torch.tensor([[seq.rate_hz]], dtype=torch.float64))[0][0, :, 0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_scan_equals_step_bit_for_bit() -> None:
    model = _model(_perturbed_net())
    seq = generate(4, SHORT)
    q_scan = model.run(seq.acc, seq.gyr, seq.rate_hz)
    stream = model.stream(seq.acc[0], seq.rate_hz)
    q_step = np.array([stream.step(seq.acc[k], seq.gyr[k]).copy() for k in range(len(seq))])
    np.testing.assert_array_equal(q_scan, q_step)
    np.testing.assert_allclose(np.linalg.norm(q_scan, axis=1), 1.0, atol=1e-12)


def test_whole_model_equals_its_core_fed_the_network() -> None:
    """``run`` (network and core in one compiled loop) is ``core_scan`` fed the network's own ``σ_a``: a
    compiled loop holding a stale core (numba's cache misses changes in other files) would differ."""
    model = _model(_perturbed_net())
    seq = generate(5, SHORT)
    sigma_a = np.exp(model.log_sigma_a(seq.acc, seq.gyr, seq.rate_hz))
    np.testing.assert_allclose(model.run(seq.acc, seq.gyr, seq.rate_hz),
                               core_scan(seq.acc, seq.gyr, sigma_a, seq.rate_hz, model.core), atol=1e-12)


def test_core_learns_the_gyro_bias_and_tracks() -> None:
    seq = generate(7, ImuConfig(duration_s=40.0, rate_hz=100.0, gyro_bias_dps=1.0, gyro_bias_walk_dps_rts=0.0))
    cp = core_params([(1.0, 0.6)], 10.0, 0.1, fixed_sigma_a=2.0)
    q = core_scan(seq.acc, seq.gyr, np.ones(len(seq)), seq.rate_hz, cp)
    err = quat.tilt_error_deg(q, seq.q)
    assert err[len(seq) // 2:].mean() < 2.0
    gyro_only = seq.q[0]
    for k in range(1, len(seq)):  # what no correction gives: the bias integrates into tilt
        gyro_only = quat.multiply(gyro_only, quat.exp_rotvec(seq.gyr[k] / seq.rate_hz))
    assert quat.tilt_error_deg(gyro_only, seq.q[-1]) > 3 * err[-200:].mean()


def test_a_bank_of_one_is_the_single_filter() -> None:
    seq = generate(9, SHORT)
    one = core_params([(1.0, 0.6)], 3.0, 0.1, fixed_sigma_a=1.0)
    two = core_params([(1.0, 0.6), (1.0, 0.6)], 3.0, 0.1, fixed_sigma_a=1.0)  # two equal hypotheses
    a = core_scan(seq.acc, seq.gyr, np.ones(len(seq)), seq.rate_hz, one)
    b = core_scan(seq.acc, seq.gyr, np.ones(len(seq)), seq.rate_hz, two)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_the_gate_picks_a_member_and_switches_on_carried_motion() -> None:
    bounded, loose = [(1.0, 0.3)], [(30.0, 30.0)]

    def scan(seq, hyps, gate_z=2.0):  # noqa: ANN001, ANN202
        cp = core_params(hyps, 10.0, 0.02, fixed_sigma_a=1.0, gate_z=gate_z)
        return core_scan(seq.acc, seq.gyr, np.ones(len(seq)), seq.rate_hz, cp)

    seq = generate(11, ImuConfig(family="random_walk", duration_s=30.0, rate_hz=100.0))
    np.testing.assert_allclose(scan(seq, bounded + loose, 1e12), scan(seq, bounded), atol=1e-12)  # never opens
    np.testing.assert_allclose(scan(seq, bounded + loose, 1e-12)[1:], scan(seq, loose)[1:], atol=1e-9)  # always
    for family, member in (("random_walk", loose), ("handheld", bounded)):  # carried: loose; in place: bounded
        seq = generate(11, ImuConfig(family=family, duration_s=30.0, rate_hz=100.0))
        gated, want = scan(seq, bounded + loose)[-500:], scan(seq, member)[-500:]
        assert quat.tilt_error_deg(gated, want).mean() < 0.05


def test_a_stiff_member_hands_over_by_its_own_gate() -> None:
    """Three members: a stiff gate that never opens is the stiff member alone; one always open is the
    two-member bank behind it (the stiff member's state never feeds the others)."""
    seq = generate(12, ImuConfig(family="impacts", duration_s=20.0, rate_hz=100.0))

    def scan(hyps):  # noqa: ANN001, ANN202
        cp = core_params(hyps, 10.0, 0.3, fixed_sigma_a=1.0, gate_z=2.0)
        return core_scan(seq.acc, seq.gyr, np.ones(len(seq)), seq.rate_hz, cp)

    stiff, pair = (0.1, 0.3, 0.03), [(1.0, 0.6), (30.0, 30.0)]
    np.testing.assert_allclose(scan([(*stiff, 1e12), *pair]), scan([(*stiff, 2.0)]), atol=1e-12)
    np.testing.assert_allclose(scan([(*stiff, 1e-12), *pair])[1:], scan(pair)[1:], atol=1e-9)


def test_onnx_network_step_with_declared_state(tmp_path: Path) -> None:
    from neuroedge.imu.export import example_inputs, export_bundle

    net = _perturbed_net()
    bundle = export_bundle(net, tmp_path / "imu")
    assert bundle.manifest.metrics["onnx_max_abs_error"] < 1e-5
    assert [(p.input, p.output) for p in bundle.manifest.state] == [("h", "h_out"), ("buf", "buf_out")]
    import onnxruntime as ort

    seq = generate(3, SHORT)
    session = ort.InferenceSession(str(bundle.main_file), providers=["CPUExecutionProvider"])
    h, buf = (t.numpy() for t in net.initial_state(torch.tensor(seq.acc[:1], dtype=torch.float32)))
    got = []
    for k in range(60):  # streaming through onnxruntime: the state fed back call to call
        imu = np.concatenate([seq.acc[k], seq.gyr[k]])[None].astype(np.float32)
        out, h, buf = session.run(None, {"imu": imu, "rate": np.array([[seq.rate_hz]], np.float32), "h": h, "buf": buf})
        got.append(out[0, 0])
    want = _model(net).log_sigma_a(seq.acc[:60], seq.gyr[:60], seq.rate_hz)
    np.testing.assert_allclose(got, want, atol=1e-4)
    args = example_inputs(net, batch=3)  # the batch axis is dynamic (TensorRT's batch profile uses it)
    res = session.run(None, {i.name: a.numpy() for i, a in zip(session.get_inputs(), args, strict=True)})
    assert res[0].shape == (3, 1)


def test_tiny_training_runs_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from neuroedge.imu import learn
    from neuroedge.imu.train import TrainConfig, load_or_train

    cfg = TrainConfig(families=("handheld", "vehicle"), steps=3, batch=2, duration_s=4.0, chunk=200,
                      rates_hz=(100.0, 100.0), select_every=2, n_val=1, val_duration_s=8.0, c_grid=(1.0,),
                      floor_grid=(0.1,), tau_grid=(0.6,), sigma_grid=(1.0,), slow_tau_grid=(30.0,),
                      slow_c_grid=(3.0,), gate_s_grid=(3.0,), gate_z_grid=(2.0,), stiff_c_grid=(0.1,),
                      stiff_floor_grid=(0.03,), stiff_tau_grid=(0.3,), stiff_z_grid=(1.0,),
                      core_n_val=1, core_val_s=8.0, core_criterion="geomean")  # worst_family: filters tuned
    model, core_only, meta = load_or_train(cfg, cache_dir=tmp_path)
    assert [c["step"] for c in meta["validation_curve"]][:2] == [0, 2]
    assert meta["core"]["val_score"] <= meta["core"]["single_hypothesis_val_score"]
    assert core_only.core[7] == 1.0 and model.core[7] < 0  # the ablation fixes σ_a; the model uses the network
    again, _, meta2 = load_or_train(cfg, cache_dir=tmp_path)  # from the cache: same model
    np.testing.assert_array_equal(again.weights, model.weights)
    assert meta2["key"] == cfg.key() and cfg.key() != TrainConfig(steps=4).key()

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was retrained for a change to the core's settings only")

    monkeypatch.setattr(learn, "train_network", no_training)
    other = replace(cfg, gate_s_grid=(10.0,))  # a core setting: the core is chosen again, the network reused
    model3, _, meta3 = load_or_train(other, cache_dir=tmp_path)
    assert meta3["key"] != meta["key"] and meta3["net_key"] == meta["net_key"]
    np.testing.assert_array_equal(model3.weights, model.weights)


def test_disturbance_target_is_the_local_rms() -> None:
    from neuroedge.imu.train import TARGET_FLOOR, disturbance_target

    seq = generate(6, SHORT)
    lin = np.zeros_like(seq.meta["linear_acc_world"])
    lin[:, 0] = 3.0  # constant 3 m/s² on one axis: RMS per axis sqrt(9 / 3)
    seq.meta["linear_acc_world"] = lin
    np.testing.assert_allclose(disturbance_target(seq, window_s=0.5), np.log(np.sqrt(3.0) + TARGET_FLOOR), rtol=1e-6)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped weights in this checkout")
def test_shipped_weights_load_and_run_with_nothing_from_examples_or_torch(tmp_path: Path) -> None:
    code = ("import sys; from neuroedge.imu.fast import AttitudeModel; import numpy as np\n"
            "m = AttitudeModel.load(); q = m.run(np.tile([0.0, 0.0, 9.81], (50, 1)), np.zeros((50, 3)), 100.0)\n"
            "assert np.allclose(q[-1], [1, 0, 0, 0], atol=1e-3), q[-1]\n"
            "bad = [k for k in sys.modules if k == 'examples' or k.startswith('examples.') or k == 'torch']\n"
            "assert not bad, bad; print(m.info['families'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "vehicle" in out.stdout


def test_the_core_takes_a_quarter_of_the_training_floor_off_the_network_only() -> None:
    """Fed ``σ_a`` by the network, the core uses ``max(σ_a − ¼ · TARGET_FLOOR, SIGMA_A_MIN)``; a fixed ``σ_a``
    (the core-only ablation) is used as it is."""
    from neuroedge.imu import core
    from neuroedge.imu.learn import TARGET_FLOOR

    assert core.NET_FLOOR_OFF == pytest.approx(0.25 * TARGET_FLOOR)
    seq = generate(3, SHORT)
    acc, gyr, n = np.ascontiguousarray(seq.acc), np.ascontiguousarray(seq.gyr), len(seq)
    members = [(1.0, 0.6), (3.0, 30.0)]
    fed = core_scan(acc, gyr, np.full(n, 0.5 + core.NET_FLOOR_OFF), seq.rate_hz, core_params(members, 3.0, 0.1))
    fixed = core_params(members, 3.0, 0.1, fixed_sigma_a=0.5)
    np.testing.assert_allclose(fed, core_scan(acc, gyr, np.full(n, 7.0), seq.rate_hz, fixed), atol=1e-9)
    quiet = core_scan(acc, gyr, np.full(n, 0.6 * core.NET_FLOOR_OFF), seq.rate_hz, core_params(members, 3.0, 0.1))
    floor = core_params(members, 3.0, 0.1, fixed_sigma_a=core.SIGMA_A_MIN)
    np.testing.assert_array_equal(quiet, core_scan(acc, gyr, np.ones(n), seq.rate_hz, floor))
