"""Window-mode IMU attitude model: shapes, unit norm, causality, the physics inside, ONNX parity, rate input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from examples.imu_attitude.model import up_in_body
from examples.imu_attitude.window_export import example_inputs, export_window_bundle
from examples.imu_attitude.window_model import (
    WindowAttitudeNet,
    quat_from_up,
    rotation_matrices,
    suffix_products,
)
from examples.imu_attitude.window_train import (
    WindowTrainConfig,
    sample_batch,
    score_windows,
    train,
    training_pool,
)
from neuroedge.data.imu import ImuConfig, generate

W, BLOCK = 64, 8


@pytest.fixture(scope="module")
def model() -> WindowAttitudeNet:
    torch.manual_seed(0)
    m = WindowAttitudeNet(window=W, block=BLOCK, channels=2, hidden=8).eval()
    with torch.no_grad():  # non-trivial heads, so every input path reaches the output
        m.score[2].weight.normal_(0, 0.5)
        m.correct[2].weight.normal_(0, 0.5)
    return m


def test_shapes_and_unit_norm(model: WindowAttitudeNet) -> None:
    imu, rate = example_inputs(model, batch=5)
    with torch.no_grad():
        q = model(imu, rate)
    assert q.shape == (5, 4)
    np.testing.assert_allclose(q.norm(dim=-1).numpy(), 1.0, atol=1e-6)


def test_window_must_split_into_blocks() -> None:
    with pytest.raises(ValueError, match="multiple of block"):
        WindowAttitudeNet(window=50, block=8)


def test_causal_only_the_window_matters(model: WindowAttitudeNet) -> None:
    """A stream cut at the label: samples after the label (outside the window) cannot change the output,
    and the sample at the label itself (the window's last row) does."""
    seq = generate(3, replace(ImuConfig(), duration_s=2.0))
    stream = torch.tensor(np.concatenate([seq.acc, seq.gyr], axis=1), dtype=torch.float32)
    label = 200
    rate = torch.tensor([[seq.rate_hz]])
    with torch.no_grad():
        q = model(stream[label - W + 1: label + 1][None], rate)
        future = stream.clone()
        future[label + 1:] += 5.0 * torch.randn_like(future[label + 1:])
        q_future = model(future[label - W + 1: label + 1][None], rate)
        now = stream.clone()
        now[label, :3] += torch.tensor([3.0, -2.0, 0.0])
        q_now = model(now[label - W + 1: label + 1][None], rate)
    assert torch.equal(q, q_future)
    assert (q - q_now).abs().max() > 1e-4


def test_rate_input_is_used(model: WindowAttitudeNet) -> None:
    imu, _ = example_inputs(model)
    with torch.no_grad():
        q100 = model(imu, torch.tensor([[100.0]]))
        q250 = model(imu, torch.tensor([[250.0]]))
    assert (q100 - q250).abs().max() > 1e-4


def test_rotation_series_and_suffix_scan_match_exact_products() -> None:
    from neuroedge import quaternion as quat

    theta = 0.1 * torch.randn(2, 13, 3, dtype=torch.float64)  # |θ| up to ~0.3 rad: error |θ|⁵/120 < 3e-5
    d = rotation_matrices(theta, WindowAttitudeNet(16, 8).skew_basis.double())
    for b in range(2):
        for n in (0, 6, 12):
            q = quat.exp_rotvec(theta[b, n].numpy())
            w, x, y, z = q
            r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                          [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                          [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
            np.testing.assert_allclose(d[b, n].numpy(), r, atol=3e-5)
    s = suffix_products(d)
    for n in (0, 5, 12):
        expected = torch.eye(3, dtype=torch.float64)
        for k in range(n + 1, 13):
            expected = expected @ d[0, k]
        np.testing.assert_allclose(s[0, n].numpy(), expected.numpy(), atol=1e-10)


def test_gyro_transport_recovers_up_without_disturbance() -> None:
    """Untrained (uniform weights, no correction) the model is the mean of gyro-transported accel readings:
    on undisturbed data that is already within ~1° (what remains is the gyro bias over the window)."""
    m = WindowAttitudeNet(window=200, block=20, physics_block=10).eval()
    seq = generate(5, replace(ImuConfig(), duration_s=8.0, disturbance_std=0.0))
    err = score_windows(m, [seq], every=20, warmup_s=2.0)
    assert err["tilt_deg"] < 1.0
    v = torch.tensor([[0.3, -0.2, 0.9]])
    np.testing.assert_allclose(up_in_body(quat_from_up(v)).numpy(), (v / v.norm()).numpy(), atol=1e-6)


def test_onnx_export_matches_torch_in_onnxruntime(model: WindowAttitudeNet, tmp_path) -> None:
    from neuroedge.registry import open_runner

    bundle = export_window_bundle(model, tmp_path / "win", force=True)
    assert bundle.manifest.extra["mode"] == "window"
    runner = open_runner(bundle, "onnxruntime")
    for batch in (1, 3):
        imu, rate = example_inputs(model, batch=batch, seed=batch)
        rate[-1] = 137.0
        (got,) = runner.run([imu.numpy(), rate.numpy()])
        with torch.no_grad():
            want = model(imu, rate).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_training_reduces_loss_and_uses_train_seeds_only() -> None:
    cfg = WindowTrainConfig(steps=20, budget_s=60, batch=16, sequences_per_rate=2, refresh_every=5, duration_s=6.0,
                            window=W, block=BLOCK, physics_block=BLOCK, channels=2, hidden=8, lr=1e-2)
    pool = training_pool(cfg)
    assert all(s.meta["seed"] < 100_000 for s in pool)  # validation starts at 100000, test at 200000
    imu, rate, q = sample_batch(pool, [np.concatenate([s.acc, s.gyr], 1).astype(np.float32) for s in pool],
                                W, 4, np.random.default_rng(0))
    assert imu.shape == (4, W, 6) and rate.shape == (4, 1) and q.shape == (4, 4)
    _, history = train(cfg)
    first = np.mean([h["loss"] for h in history[:5]])
    last = np.mean([h["loss"] for h in history[-5:]])
    assert np.isfinite(last) and len(history) == 20
    assert last < first * 1.5  # a 20-step run is noisy; it must at least not diverge


def test_grouped_conv_as_matmul_and_eval_cache_follow_the_weights() -> None:
    """The block MatMul equals a grouped Conv1d (kernel = stride = block, one group per axis), and the
    matrix cached for inference is rebuilt when the weights change in place (as load_state_dict does)."""
    m = WindowAttitudeNet(window=64, block=16, channels=2, hidden=8, physics_block=8).eval()
    imu, rate = example_inputs(m, batch=2)
    z = imu.reshape(2, m.blocks, m.block * 6) @ m.block_matrix()
    conv = torch.nn.functional.conv1d(imu.transpose(1, 2), m.branches.weight * m.scale, None, stride=16, groups=6)
    np.testing.assert_allclose(z[..., :12].detach().numpy(), conv.transpose(1, 2).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(z[..., 12:].reshape(2, 8, 6).detach().numpy(),
                               imu.reshape(2, 8, 8, 6).sum(2).numpy(), atol=1e-4)
    with torch.no_grad():
        before = m(imu, rate)
        m.branches.weight.mul_(3.0)
        m.score[2].weight.normal_(0, 1.0)
        after = m(imu, rate)
        m.train()
        fresh = m(imu, rate)
    assert (before - after).abs().max() > 1e-5
    np.testing.assert_allclose(after.numpy(), fresh.numpy(), atol=1e-6)
