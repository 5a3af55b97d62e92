"""The streaming attitude model: unit quaternions, causality, carried state, ONNX step, a tiny training run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from examples.imu_attitude.model import build_model, tilt_loss
from neuroedge.data.imu import ImuConfig, generate

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
    whole, (h_s, q_s, i_s, buf_s) = model.run_sequence(acc, gyr, rate)
    h, q, i, buf = model.initial_state(acc[:, 0])
    imu = torch.cat([acc, gyr], dim=-1)
    for t in range(imu.shape[1]):
        q, h, i, buf = model(imu[:, t], rate, h, q, i, buf)
    torch.testing.assert_close(whole[:, -1], q, atol=1e-5, rtol=0)
    torch.testing.assert_close(h_s, h, atol=1e-5, rtol=0)
    torch.testing.assert_close(i_s, i, atol=1e-6, rtol=0)
    assert torch.equal(buf_s, buf)


@torch.no_grad()
def test_untrained_cell_tracks_clean_motion() -> None:
    """With no disturbance and no bias, the physics core alone (initial gains) must follow the truth."""
    model = build_model().eval()
    clean = replace(ImuConfig(duration_s=4.0, rate_hz=100.0), disturbance_std=0.0, gyro_bias_dps=0.0, gyro_bias_walk_dps_rts=0.0)
    seq = generate(2, clean)
    acc, gyr, rate = _tensors(seq)
    q, _ = model.run_sequence(acc, gyr, rate)
    from neuroedge import quaternion as quat

    assert float(np.mean(quat.tilt_error_deg(q[0].double().numpy(), seq.q))) < 0.5


def test_tilt_loss_is_tilt_squared() -> None:
    q_true = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    angle = 0.05
    q_est = torch.tensor([[np.cos(angle / 2), np.sin(angle / 2), 0.0, 0.0]], dtype=torch.float32)
    assert float(tilt_loss(q_est, q_true)) == pytest.approx(4 * np.sin(angle / 2) ** 2, rel=1e-4)
    yaw = torch.tensor([[np.cos(0.4), 0.0, 0.0, np.sin(0.4)]], dtype=torch.float32)
    assert float(tilt_loss(yaw, q_true)) < 1e-10  # heading is not penalised


def test_onnx_step_matches_torch_and_onnxruntime_target(tmp_path: Path) -> None:
    from examples.imu_attitude.export import export_bundle
    from neuroedge.registry import open_runner

    model = build_model().eval()
    bundle = export_bundle(model, tmp_path / "imu")
    assert bundle.manifest.metrics["onnx_max_abs_error"] < 1e-5
    assert [s.name for s in bundle.manifest.inputs] == ["imu", "rate", "h", "q", "i", "buf"]
    runner = open_runner(bundle, "onnxruntime")
    acc, gyr, rate = _tensors(generate(3, SHORT))
    with torch.no_grad():
        expected, _ = model.run_sequence(acc[:, :50], gyr[:, :50], rate)
        h, q, i, buf = model.initial_state(acc[:, 0])
    state = [h.numpy(), q.numpy(), i.numpy(), buf.numpy()]
    for t in range(50):  # streaming through onnxruntime: one call per sample, state fed back
        imu = torch.cat([acc[:, t], gyr[:, t]], dim=-1).numpy()
        q_out, h_out, i_out, buf_out = runner.run([imu, rate.numpy(), *state])
        state = [h_out, q_out, i_out, buf_out]
    np.testing.assert_allclose(q_out, expected[:, -1].numpy(), atol=1e-4)


def test_tiny_training_runs_and_caches(tmp_path: Path) -> None:
    from examples.imu_attitude.train import TrainConfig, load_or_train

    cfg = TrainConfig(steps=3, batch=4, duration_s=4.0, chunk=50, warmup_s=1.0, rates_hz=(100.0,), select_every=2)
    model, meta = load_or_train(cfg, cache_dir=tmp_path)
    losses = [r["loss"] for r in meta["history"] if "loss" in r]
    assert meta["steps"] >= 1 and losses and np.all(np.isfinite(losses))
    # model selection on the validation split: scored before training and every 2 steps, best kept
    assert [c["step"] for c in meta["validation_curve"]][:2] == [0, 2]
    assert meta["selected"]["best_val_tilt_deg"] == min(c["val_tilt_deg"] for c in meta["validation_curve"])
    assert (tmp_path / f"model-{cfg.key()}.pt").is_file()
    again, meta2 = load_or_train(cfg, cache_dir=tmp_path)  # from the cache, same weights
    assert meta2["steps"] == meta["steps"]
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
