"""The synthetic IMU generator, the quaternion maths and the CSV loader."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from neuroedge.imu import quaternion as quat
from neuroedge.imu.families import (
    CSV_COLUMNS,
    ImuConfig,
    ImuDataError,
    generate,
    generate_split,
    load_csv,
    save_csv,
)

SHORT = ImuConfig(duration_s=12.0)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = generate(3, SHORT), generate(3, SHORT), generate(4, SHORT)
    np.testing.assert_array_equal(a.acc, b.acc)
    np.testing.assert_array_equal(a.q, b.q)
    assert not np.allclose(a.acc, c.acc)


def test_gyro_minus_bias_and_noise_integrates_to_ground_truth() -> None:
    cfg = replace(SHORT, gyro_noise_dps_rthz=0.0)
    seq = generate(1, cfg)
    omega = seq.gyr - seq.meta["gyro_bias"]
    q = seq.q[0]
    est = [q]
    for k in range(1, len(seq)):
        q = quat.multiply(q, quat.exp_rotvec(omega[k] / seq.rate_hz))
        est.append(q)
    assert np.max(quat.rotation_error_deg(np.array(est), seq.q)) < 1e-4  # acos resolution near 0


def test_accel_is_gravity_plus_linear_acceleration_in_body_frame() -> None:
    cfg = replace(SHORT, accel_noise_rthz=0.0)
    seq = generate(2, cfg)
    lin = seq.meta["linear_acc_world"]
    world = quat.rotate(seq.q, seq.acc)
    np.testing.assert_allclose(world, lin + [0, 0, 9.81], atol=1e-9)
    rms = np.sqrt(np.mean(lin**2))
    assert rms == pytest.approx(2.0, rel=1e-6)  # the configured disturbance, per axis
    assert np.allclose(lin[: int(seq.rate_hz)], 0.0)  # first second free of linear acceleration


def test_bias_drifts_and_rates_follow_the_config() -> None:
    seq = generate(5, replace(SHORT, rate_hz=286.0))
    assert seq.rate_hz == 286.0 and len(seq) == round(12.0 * 286)
    bias = seq.meta["gyro_bias"]
    assert np.all(np.ptp(bias, axis=0) > 0)  # a random walk, not a constant
    seqs = generate_split("val", 3, SHORT, rates_hz=(100.0, 286.0))
    assert all(100.0 <= s.rate_hz <= 286.0 for s in seqs)
    with pytest.raises(ValueError, match="split"):
        generate_split("nope", 1)


def test_tilt_error_ignores_heading_and_rotation_error_does_not() -> None:
    q = quat.exp_rotvec(np.array([0.2, -0.1, 0.4]))
    yawed = quat.multiply(quat.exp_rotvec(np.array([0, 0, 0.5])), q)  # heading change in the world frame
    assert quat.tilt_error_deg(yawed, q) < 1e-9
    assert quat.rotation_error_deg(yawed, q) == pytest.approx(np.degrees(0.5), rel=1e-9)
    tilted = quat.multiply(quat.exp_rotvec(np.array([np.radians(3), 0, 0])), q)
    assert quat.tilt_error_deg(tilted, q) == pytest.approx(3.0, rel=1e-6)
    aligned = quat.heading_aligned(yawed[None], q[None])
    assert quat.rotation_error_deg(aligned, q[None])[0] < 1e-6


def test_from_accel_levels_on_gravity() -> None:
    q = quat.exp_rotvec(np.array([0.3, -0.5, 1.0]))
    acc = quat.rotate(quat.conj(q), np.array([0, 0, 9.81]))
    assert quat.tilt_error_deg(quat.from_accel(acc), q) < 1e-6


def test_csv_round_trip(tmp_path: Path) -> None:
    seq = generate(7, replace(SHORT, duration_s=2.0))
    loaded = load_csv(save_csv(seq, tmp_path / "rec.csv"))
    np.testing.assert_allclose(loaded.acc, seq.acc, rtol=1e-7)
    np.testing.assert_allclose(loaded.gyr, seq.gyr, rtol=1e-7, atol=1e-12)
    assert loaded.rate_hz == pytest.approx(seq.rate_hz, rel=1e-6)


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


GOOD = "{t},0,0,9.81,0,0,0,1,0,0,0"


def test_csv_missing_column_names_it(tmp_path: Path) -> None:
    header = ",".join(c for c in CSV_COLUMNS if c != "gy")
    path = _write(tmp_path / "a.csv", header, ["0,0,0,9.8,0,0,1,0,0,0"])
    with pytest.raises(ImuDataError, match=r"a\.csv: line 1 \(header\): missing column\(s\) gy"):
        load_csv(path)


def test_csv_nan_names_file_line_and_column(tmp_path: Path) -> None:
    rows = [GOOD.format(t=0.0), "0.01,0,nan,9.81,0,0,0,1,0,0,0", GOOD.format(t=0.02)]
    path = _write(tmp_path / "b.csv", ",".join(CSV_COLUMNS), rows)
    with pytest.raises(ImuDataError, match=r"b\.csv: line 3, column 'ay': nan is not finite"):
        load_csv(path)


def test_csv_text_value_and_time_going_back(tmp_path: Path) -> None:
    rows = [GOOD.format(t=0.0), "0.01,0,0,9.81,x,0,0,1,0,0,0"]
    with pytest.raises(ImuDataError, match=r"line 3, column 'gx': 'x' is not a number"):
        load_csv(_write(tmp_path / "c.csv", ",".join(CSV_COLUMNS), rows))
    rows = [GOOD.format(t=0.0), GOOD.format(t=0.01), GOOD.format(t=0.005)]
    with pytest.raises(ImuDataError, match=r"line 4, column 't': time 0.005 does not increase"):
        load_csv(_write(tmp_path / "d.csv", ",".join(CSV_COLUMNS), rows))
    with pytest.raises(ImuDataError, match="no such file"):
        load_csv(tmp_path / "missing.csv")


def test_default_disturbance_has_bounded_velocity_and_old_one_is_kept() -> None:
    """Default: the integral of the linear acceleration (the velocity) stays bounded; 'lowpass' random-walks."""
    cfg = replace(SHORT, duration_s=60.0, accel_noise_rthz=0.0)
    bounded = generate(7, cfg)
    legacy = generate(7, replace(cfg, disturbance_model="lowpass"))
    for seq in (bounded, legacy):
        assert np.sqrt(np.mean(seq.meta["linear_acc_world"] ** 2)) == pytest.approx(2.0, rel=1e-6)
    v_bounded = np.cumsum(bounded.meta["linear_acc_world"], axis=0) / bounded.rate_hz
    v_legacy = np.cumsum(legacy.meta["linear_acc_world"], axis=0) / legacy.rate_hz
    assert np.max(np.abs(v_bounded)) < 6.0  # m/s: a device moved around, not launched
    assert np.max(np.abs(v_legacy)) > 2 * np.max(np.abs(v_bounded))
    with pytest.raises(ValueError, match="disturbance_model"):
        ImuConfig(disturbance_model="white")
