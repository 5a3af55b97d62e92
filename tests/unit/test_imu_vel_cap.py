"""The bounded members' velocity cap (``neuroedge.imu.core``, ``TrainConfig.vel_cap``): it reads the
velocity scale of a vertical motion from ``|f| - g`` alone, ignores an accelerometer's scale error, and on a
gait (a fast shake with a small velocity) keeps the bank on the accelerometer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from neuroedge.imu import quaternion as quat
from neuroedge.imu.core import STRIDE, _velocity_cap, core_params, core_scan


def _cap_over(dev: np.ndarray, rate: float, k: float = 1.0) -> float:
    cp = core_params([(1.0, 0.6)], 3.0, 0.1, vel_cap=(k, 5.0, 5.0, 1e9))
    st = np.zeros(STRIDE)
    cap = math.inf
    for d in dev:
        cap = _velocity_cap(st, np.array([0.0, 0.0, 9.81 + d]), 1.0 / rate, cp)
    return cap


@pytest.mark.parametrize("hz", [2.0, 0.5])
def test_a_vertical_oscillation_is_read_as_its_velocity(hz: float) -> None:
    rate, amp = 200.0, 2.0
    t = np.arange(int(30 * rate)) / rate
    velocity_amp = amp / (2 * np.pi * hz)
    cap = _cap_over(amp * np.sin(2 * np.pi * hz * t), rate)
    assert velocity_amp / math.sqrt(2) * 0.8 <= cap <= velocity_amp * 1.2, (cap, velocity_amp)


def test_an_accelerometer_scale_error_is_no_velocity_and_off_is_no_cap() -> None:
    rate = 100.0
    assert _cap_over(np.full(3000, 0.2), rate) < 1e-9  # |f| 2% above g for 30 s, no motion
    cp = core_params([(1.0, 0.6)], 3.0, 0.1)
    assert _velocity_cap(np.zeros(STRIDE), np.array([0.0, 0.0, 12.0]), 0.01, cp) == math.inf


def _gait(rate: float, seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A walker's torso: 1.9 steps/s, 2.5 m/s² vertical and 1.2 m/s² fore-aft at the step rate, 3° wobble, a
    slow turn at 1.3 m/s; exact body rates; a small gyro bias and consumer noise."""
    n = int(seconds * rate)
    t = np.arange(n + 1) / rate
    step = 2 * np.pi * 1.9 * t
    heading = 0.4 * np.sin(2 * np.pi * 0.05 * t)
    att = Rotation.from_euler("zyx", np.stack([heading, 0.05 * np.sin(step), 0.05 * np.sin(0.5 * step)], axis=1))
    fwd, up = 1.2 * np.sin(step + 1.0), 2.5 * np.sin(step)
    turn = np.gradient(heading, 1 / rate) * 1.3
    lin = np.stack([np.cos(heading) * fwd - np.sin(heading) * turn, np.sin(heading) * fwd + np.cos(heading) * turn,
                    up], axis=1)
    gyr = (att[:-1].inv() * att[1:]).as_rotvec() * rate + np.radians([0.5, -0.4, 0.3])
    gyr += np.radians(0.01) * math.sqrt(rate) * rng.standard_normal((n, 3))
    acc = att[:-1].inv().apply(lin[:-1] + [0.0, 0.0, 9.81]) + 0.003 * math.sqrt(rate) * rng.standard_normal((n, 3))
    q = att[:-1].as_quat()[:, [3, 0, 1, 2]]
    return acc, gyr, q


def test_on_a_gait_the_cap_keeps_the_bank_on_the_accelerometer() -> None:
    rate = 100.0
    acc, gyr, q = _gait(rate, 40.0, np.random.default_rng(3))
    sa = np.full(len(acc), 1.7)  # what a gait's shaking reads as, per axis
    errors = {}
    for k in (0.0, 1.5):
        cp = core_params([(0.1, 0.3, 0.03, 1.0), (1.0, 2.4, 0.02, 1.0), (3.0, 200.0, 0.02, 1.0)], 1.0, 0.02,
                         vel_cap=(k, 5.0, 5.0, 1e9))
        errors[k] = float(np.mean(quat.tilt_error_deg(core_scan(acc, gyr, sa, rate, cp)[500:], q[500:])))
    assert errors[1.5] < 0.8 * errors[0.0], errors


def test_without_translation_the_floors_give_way_and_nothing_divides_by_zero() -> None:
    """A sensor turned about its own centre (no linear acceleration, noisy gyro): with the floors' share 0
    the capped members lean on the accelerometer harder than with their floors kept; noise-free input (a
    cap of exactly 0) still gives finite attitudes."""
    rate, n = 100.0, 4000
    rng = np.random.default_rng(5)
    t = np.arange(n + 1) / rate
    att = Rotation.from_euler("zyx", np.stack([0.8 * np.sin(0.4 * t), 0.5 * np.sin(0.7 * t), 0.4 * np.sin(0.9 * t)], 1))
    gyr = (att[:-1].inv() * att[1:]).as_rotvec() * rate
    acc = att[:-1].inv().apply(np.tile([0.0, 0.0, 9.81], (n, 1)))
    q = att[:-1].as_quat()[:, [3, 0, 1, 2]]
    hyps = [(0.1, 0.3, 0.03, 1.0), (1.0, 2.4, 0.02, 1.0), (3.0, 200.0, 0.02, 1.0)]
    noisy_gyr = gyr + np.radians(0.2) * math.sqrt(rate) * rng.standard_normal((n, 3))
    noisy_acc = acc + 0.003 * math.sqrt(rate) * rng.standard_normal((n, 3))
    sa = np.full(n, 0.07)
    errors = {}
    for share in (1e9, 0.0):
        cp = core_params(hyps, 1.0, 0.02, vel_cap=(1.5, 5.0, 5.0, share))
        errors[share] = float(np.mean(quat.tilt_error_deg(core_scan(noisy_acc, noisy_gyr, sa, rate, cp)[500:], q[500:])))
        assert np.isfinite(core_scan(acc, gyr, sa, rate, cp)).all()
    assert errors[0.0] < 0.9 * errors[1e9], errors  # measured 0.34° against 0.42°
