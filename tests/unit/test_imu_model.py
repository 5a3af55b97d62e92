"""The streaming attitude model: unit quaternions, causality, carried state, the Kalman core, ONNX step, training."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from neuroedge.imu.families import ImuConfig, generate
from neuroedge.imu.model import build_model, tilt_loss

SHORT = ImuConfig(duration_s=2.0, rate_hz=100.0)


def _tensors(seq) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    acc = torch.tensor(seq.acc[None], dtype=torch.float32)
    gyr = torch.tensor(seq.gyr[None], dtype=torch.float32)
    return acc, gyr, torch.full((1, 1), float(seq.rate_hz))


@torch.no_grad()
def test_output_is_unit_quaternion_and_causal() -> None:
    torch.manual_seed(0)
    model = build_model().eval()
    acc, gyr, rate = _tensors(generate(0, SHORT))
    q, _ = model.run_sequence(acc, gyr, rate)
    assert torch.allclose(q.norm(dim=-1), torch.ones(1, q.shape[1]), atol=1e-5)
    acc2 = acc.clone()
    acc2[:, 120:] += 3.0  # change only the future
    q2, _ = model.run_sequence(acc2, gyr, rate)
    assert torch.equal(q[:, :120], q2[:, :120])  # the past does not see it: the label is the last sample
    assert not torch.allclose(q[:, 120:], q2[:, 120:])


@torch.no_grad()
def test_streaming_state_carries_across_calls() -> None:
    model = build_model().eval()
    acc, gyr, rate = _tensors(generate(1, SHORT))
    whole, _ = model.run_sequence(acc, gyr, rate)
    first, state = model.run_sequence(acc[:, :70], gyr[:, :70], rate)
    second, _ = model.run_sequence(acc[:, 70:], gyr[:, 70:], rate, state)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)


@torch.no_grad()
def test_sequence_mode_is_the_streaming_step_repeated() -> None:
    """``run_sequence`` (GRU over the chunk, physics as constant tensors) == one ``forward`` per sample."""
    torch.manual_seed(1)
    model = build_model().eval()
    for p in model.parameters():  # away from the initialisation, so every term matters
        p.add_(0.1 * torch.randn_like(p))
    acc, gyr, rate = _tensors(generate(4, SHORT))
    whole, (h_s, q_s, i_s, p_s, buf_s) = model.run_sequence(acc, gyr, rate)
    h, q, i, p, buf = model.initial_state(acc[:, 0])
    imu = torch.cat([acc, gyr], dim=-1)
    for t in range(imu.shape[1]):
        q, h, i, p, buf = model(imu[:, t], rate, h, q, i, p, buf)
    torch.testing.assert_close(whole[:, -1], q, atol=1e-5, rtol=0)
    torch.testing.assert_close(h_s, h, atol=1e-5, rtol=0)
    torch.testing.assert_close(i_s, i, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(p_s, p, atol=1e-7, rtol=1e-4)
    assert torch.equal(buf_s, buf)


def test_constant_matrices_are_the_written_algebra() -> None:
    """The step's constant-matrix forms (fewer ONNX nodes) equal the readable functions they replace."""
    from neuroedge.imu import model as m

    torch.manual_seed(2)
    p, q = torch.randn(5, 4), torch.randn(5, 4)
    torch.testing.assert_close(m._qmul(p, q), m.quat_mul(p, q), atol=1e-6, rtol=0)
    u = m._normalise(q)
    torch.testing.assert_close((u.unsqueeze(-1) * u.unsqueeze(-2)).flatten(-2) @ m._ROT,
                               m.rotation_matrix(u).flatten(-2), atol=1e-6, rtol=0)
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    torch.testing.assert_close(m._cross(a, b), torch.cross(a, b, dim=-1), atol=1e-6, rtol=0)
    # Φ - I from the module doc's blocks: φ̇ = -R β, ḋ = -[f]×_xy φ, v̇ = -v/τ.
    rot, f, dt, tau = m.rotation_matrix(u[:1])[0], torch.randn(3), 0.005, 0.3
    a_mat = torch.zeros(10, 10)
    a_mat[0:3, 3:6] = -rot
    skew = torch.tensor([[0.0, -f[2], f[1]], [f[2], 0.0, -f[0]], [-f[1], f[0], 0.0]])
    a_mat[8:10, 0:3] = -skew[:2]
    a_mat[6, 6] = a_mat[7, 7] = -1 / tau
    packed = torch.cat([-rot.flatten() * dt, f * dt, torch.tensor([-dt / tau])]) @ m._PHI
    torch.testing.assert_close(packed.reshape(10, 10), a_mat * dt, atol=1e-7, rtol=0)


@torch.no_grad()
def test_kalman_core_learns_the_gyro_bias() -> None:
    """No disturbance, a 0.4 °/s-class bias: the core's bias estimate converges where it is observable.

    The accelerometer sees only the bias about horizontal axes (the vertical part only turns the
    unobservable heading). Tilts here stay under 60°, so the body x and y axes are the well-observed ones;
    body z is learned only through the tilt's variation, slowly.
    """
    model = build_model().eval()
    cfg = replace(ImuConfig(duration_s=30.0, rate_hz=100.0), disturbance_std=0.0, gyro_bias_walk_dps_rts=0.0)
    seq = generate(5, cfg)
    acc, gyr, rate = _tensors(seq)
    _, (_, _, i, _, _) = model.run_sequence(acc, gyr, rate)
    true_bias = seq.meta["gyro_bias"][-1]
    error = i[0, :3].double().numpy() - true_bias  # the estimate starts at 0, so the initial error is the bias
    assert np.all(np.abs(error[:2]) < 0.1 * np.linalg.norm(true_bias)), (i[0, :3], true_bias)
    assert np.linalg.norm(error) < 0.7 * np.linalg.norm(true_bias)


@torch.no_grad()
def test_untrained_cell_tracks_clean_motion() -> None:
    """With no disturbance and no bias, the physics core alone (initial gains) must follow the truth."""
    model = build_model().eval()
    clean = replace(ImuConfig(duration_s=4.0, rate_hz=100.0), disturbance_std=0.0, gyro_bias_dps=0.0, gyro_bias_walk_dps_rts=0.0)
    seq = generate(2, clean)
    acc, gyr, rate = _tensors(seq)
    q, _ = model.run_sequence(acc, gyr, rate)
    from neuroedge.imu import quaternion as quat

    assert float(np.mean(quat.tilt_error_deg(q[0].double().numpy(), seq.q))) < 0.5


def test_tilt_loss_is_tilt_squared() -> None:
    q_true = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    angle = 0.05
    q_est = torch.tensor([[np.cos(angle / 2), np.sin(angle / 2), 0.0, 0.0]], dtype=torch.float32)
    assert float(tilt_loss(q_est, q_true)) == pytest.approx(4 * np.sin(angle / 2) ** 2, rel=1e-4)
    yaw = torch.tensor([[np.cos(0.4), 0.0, 0.0, np.sin(0.4)]], dtype=torch.float32)
    assert float(tilt_loss(yaw, q_true)) < 1e-10  # heading is not penalised


def test_onnx_step_matches_torch_and_onnxruntime_target(tmp_path: Path) -> None:
    from neuroedge.imu.export import export_bundle
    from neuroedge.registry import open_runner

    model = build_model().eval()
    bundle = export_bundle(model, tmp_path / "imu")
    assert bundle.manifest.metrics["onnx_max_abs_error"] < 1e-5
    assert [s.name for s in bundle.manifest.inputs] == ["imu", "rate", "h", "q", "i", "p", "buf"]
    runner = open_runner(bundle, "onnxruntime")
    acc, gyr, rate = _tensors(generate(3, SHORT))
    with torch.no_grad():
        expected, _ = model.run_sequence(acc[:, :50], gyr[:, :50], rate)
        state = [s.numpy() for s in model.initial_state(acc[:, 0])]
    for t in range(50):  # streaming through onnxruntime: one call per sample, state fed back
        imu = torch.cat([acc[:, t], gyr[:, t]], dim=-1).numpy()
        q_out, *rest = runner.run([imu, rate.numpy(), *state])
        state = [rest[0], q_out, *rest[1:]]
    np.testing.assert_allclose(q_out, expected[:, -1].numpy(), atol=1e-4)
    # the batch axis is dynamic (TensorRT's batch profile uses it): three streams in one call
    import onnxruntime as ort

    from neuroedge.imu.export import example_inputs

    args = example_inputs(model, batch=3)
    args = (args[0] + 0.1 * torch.randn(3, 6), *args[1:])
    with torch.no_grad():
        want = [t.numpy() for t in model(*args)]
    session = ort.InferenceSession(str(bundle.main_file), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: a.numpy() for i, a in zip(session.get_inputs(), args, strict=True)})
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5)


def test_tiny_training_runs_and_caches(tmp_path: Path) -> None:
    from neuroedge.imu.train import TrainConfig, load_or_train

    cfg = TrainConfig(steps=3, batch=4, duration_s=4.0, chunk=100, rates_hz=(100.0,), select_every=2, n_val=2,
                      val_duration_s=6.0, c_grid=(0.5, 1.0), floor_grid=(0.1,), tau_grid=(0.3,),
                      fixed_sigma_grid=(1.0,), imu=ImuConfig(rate_hz=100.0))
    model, meta = load_or_train(cfg, cache_dir=tmp_path)
    losses = [r["loss"] for r in meta["history"] if "loss" in r]
    assert meta["steps"] >= 1 and losses and np.all(np.isfinite(losses))
    # model selection on the validation loss: scored before training and every 2 steps, best kept
    assert [c["step"] for c in meta["validation_curve"]][:2] == [0, 2]
    assert meta["selected"]["best_val_loss"] == min(c["val_loss"] for c in meta["validation_curve"])
    # the tuned core travels in the state dict
    assert meta["core"]["c"] in (0.5, 1.0) and float(model.kf[0]) == pytest.approx(meta["core"]["c"])
    assert np.isfinite(meta["fixed_core"]["val_tilt_deg"])
    assert (tmp_path / f"model-{cfg.key()}.pt").is_file()
    again, meta2 = load_or_train(cfg, cache_dir=tmp_path)  # from the cache, same weights
    assert meta2["steps"] == meta["steps"]
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_disturbance_target_is_the_local_rms() -> None:
    from neuroedge.imu.train import TARGET_FLOOR, disturbance_target

    seq = generate(6, SHORT)
    lin = np.zeros_like(seq.meta["linear_acc_world"])
    lin[:, 0] = 3.0  # constant 3 m/s² on one axis: RMS per axis sqrt(9 / 3)
    seq.meta["linear_acc_world"] = lin
    target = disturbance_target(seq, window_s=0.5)
    np.testing.assert_allclose(target, np.log(np.sqrt(3.0) + TARGET_FLOOR), rtol=1e-6)
