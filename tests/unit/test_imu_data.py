"""The motion-family generators (their physical invariants) and the quaternion maths."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from neuroedge.imu import quaternion as quat
from neuroedge.imu.families import BOUNDED_VELOCITY, FAMILIES, ImuConfig, generate, generate_split

SHORT = ImuConfig(duration_s=12.0)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = generate(3, SHORT), generate(3, SHORT), generate(4, SHORT)
    np.testing.assert_array_equal(a.acc, b.acc)
    np.testing.assert_array_equal(a.q, b.q)
    assert not np.allclose(a.acc, c.acc)


@pytest.mark.parametrize("pauses", [False, True])
@pytest.mark.parametrize("family", FAMILIES)
def test_family_invariants_gravity_gyro_and_velocity(family: str, pauses: bool) -> None:
    """Every family, put down now and then or not: accel = gravity + its linear acceleration in the body
    frame; the gyro (less bias) carries q exactly; at rest for the first second; the velocity bounded or
    not, as the family declares."""
    cfg = ImuConfig(family=family, duration_s=60.0, rate_hz=100.0, accel_noise_rthz=0.0, gyro_noise_dps_rthz=0.0,
                    pauses=pauses)
    seq = generate(21, cfg)
    lin = seq.meta["linear_acc_world"]
    np.testing.assert_allclose(quat.rotate(seq.q, seq.acc), lin + [0, 0, 9.81], atol=1e-9)
    assert np.allclose(lin[: int(seq.rate_hz)], 0.0)
    still = np.linalg.norm(seq.acc[: int(seq.rate_hz)], axis=1)
    np.testing.assert_allclose(still, 9.81, rtol=1e-12)  # gravity's magnitude when still
    omega = seq.gyr - seq.meta["gyro_bias"]
    q = seq.q[0]
    for k in range(1, 400):
        q = quat.multiply(q, quat.exp_rotvec(omega[k] / seq.rate_hz))
    assert quat.rotation_error_deg(q, seq.q[399]) < 1e-3
    velocity = np.cumsum(lin, axis=0) / seq.rate_hz
    assert seq.meta["velocity_bounded"] == BOUNDED_VELOCITY[family]
    if BOUNDED_VELOCITY[family]:
        assert np.max(np.abs(velocity)) < 8.0  # m/s: moved around in place
    else:
        assert np.max(np.abs(velocity)) > 8.0  # carried away: the velocity is not bounded


@pytest.mark.parametrize("family", FAMILIES)
def test_pauses_rest_still_and_resume_the_same_motion(family: str) -> None:
    """A paused sequence has rests of 2 s or more with no rotation, no linear acceleration and no velocity;
    outside them it moves as much as the family does."""
    clean = {"accel_noise_rthz": 0.0, "gyro_noise_dps_rthz": 0.0, "gyro_bias_dps": 0.0, "gyro_bias_walk_dps_rts": 0.0}
    seq = generate(21, ImuConfig(family=family, duration_s=60.0, rate_hz=100.0, pauses=True, **clean))
    plain = generate(21, ImuConfig(family=family, duration_s=60.0, rate_hz=100.0, **clean))
    rest = np.linalg.norm(seq.gyr, axis=1) < 1e-9
    rest[:100] = False  # the first second is at rest in every sequence
    runs = np.diff(np.concatenate([[0], rest.astype(int), [0]]))
    lengths = np.flatnonzero(runs == -1) - np.flatnonzero(runs == 1)
    assert lengths.max() >= 200  # at least one rest of 2 s
    lin = seq.meta["linear_acc_world"]
    assert np.abs(lin[rest]).max() < 0.05  # m/s²: still (ramp ends hold a trace of the stop)
    velocity = np.cumsum(lin, axis=0) / seq.rate_hz
    assert np.abs(velocity[rest]).max() < 0.05
    assert np.abs(seq.acc - plain.acc).max() > 0.1  # paused is not plain
    # the motion itself is the family's: the largest rate outside rests is that of the unpaused sequence's
    assert np.linalg.norm(seq.gyr, axis=1).max() > 0.5 * np.linalg.norm(plain.gyr, axis=1).max()


def test_fast_rotation_peaks_and_vehicle_sustains() -> None:
    fast = generate(5, ImuConfig(family="fast_rotation", duration_s=30.0, gyro_bias_dps=0.0,
                                 gyro_bias_walk_dps_rts=0.0, gyro_noise_dps_rthz=0.0))
    w = np.linalg.norm(fast.gyr, axis=1)
    assert 10.0 <= w.max() <= 12.0 + 1e-9 and w.mean() > 2.0
    car = generate(5, ImuConfig(family="vehicle", duration_s=60.0, rate_hz=50.0))
    horizontal = np.linalg.norm(car.meta["linear_acc_world"][:, :2], axis=1)
    # sustained: the 2 s moving average of |a| exceeds 1 m/s² somewhere (a hand's averages out)
    smooth = np.convolve(horizontal, np.ones(100) / 100, mode="valid")
    assert smooth.max() > 1.0


def test_impacts_are_short_and_leave_the_velocity() -> None:
    seq = generate(8, ImuConfig(family="impacts", duration_s=30.0, rate_hz=400.0))
    lin = seq.meta["linear_acc_world"]
    assert np.abs(lin).max() > 8.0
    assert np.max(np.abs(np.cumsum(lin, axis=0) / seq.rate_hz)) < 3.0


def _window_rms(lin: np.ndarray, rate: float, seconds: float = 2.0) -> np.ndarray:
    n = int(rate * seconds)
    power = (lin[int(rate) * 2:] ** 2).sum(axis=1)  # after the still first second and its ramp
    return np.sqrt(power[: len(power) // n * n].reshape(-1, n).mean(axis=1))


def test_a_third_of_the_sequences_move_steadily_the_rest_in_bursts() -> None:
    """Drawn per sequence: a steady sequence's 2 s RMS of linear acceleration varies far less than a bursty
    one's, at its own level; about a third of a split is steady."""
    seqs = generate_split("val", "random_walk", 30, duration_s=60.0, rate_hz=100.0, pauses=False)
    steady = [s for s in seqs if s.meta["config"].burst_tau_s == 0.0]
    bursty = [s for s in seqs if s.meta["config"].burst_tau_s > 0.0]
    assert 5 <= len(steady) <= 15
    spread = lambda s: np.std(np.log(_window_rms(s.meta["linear_acc_world"], s.rate_hz)))  # noqa: E731
    assert max(spread(s) for s in steady) < min(spread(s) for s in bursty)
    levels = {round(s.meta["config"].disturbance_std, 3) for s in steady}
    assert len(levels) == len(steady) and all(0.7 <= v <= 3.0 for v in levels)


def test_splits_draw_rate_and_sensor_per_sequence() -> None:
    seqs = generate_split("val", "handheld", 4, duration_s=3.0)
    rates = [s.rate_hz for s in seqs]
    assert all(50.0 <= r <= 400.0 for r in rates) and len(set(rates)) == 4
    assert len({s.meta["config"].gyro_noise_dps_rthz for s in seqs}) == 4
    test = generate_split("test", "handheld", 1, duration_s=3.0)[0]
    assert test.meta["seed"] not in {s.meta["seed"] for s in seqs}
    fixed = generate_split("val", "vehicle", 1, duration_s=3.0, rate_hz=100.0)[0]
    assert fixed.rate_hz == 100.0
    with pytest.raises(ValueError, match="split"):
        generate_split("nope", "handheld", 1)
    with pytest.raises(ValueError, match="family"):
        replace(SHORT, family="boat")


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
