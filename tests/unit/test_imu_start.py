"""A recording that starts in motion: the core must not believe a first sample that holds linear acceleration.

The signal is made with scipy's Rotation, not neuroedge's generators: the body turns, and for its first
second it also accelerates sideways at 3 m/s² (levelling on the first sample is then 17° off).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

from neuroedge.imu.core import MOVING_TILT_SD, P0, STILL_TILT_SD, STRIDE, core_init
from neuroedge.imu.fast import SHIPPED, AttitudeModel
from neuroedge.imu.quaternion import tilt_error_deg

RATE = 200.0


def _moving_start(seconds: float = 20.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    gyr = np.column_stack([0.8 * np.sin(0.9 * t + 0.3), 0.6 * np.sin(1.3 * t), 0.4 * np.cos(0.5 * t)])
    rots = [Rotation.identity()]
    for step in Rotation.from_rotvec(gyr[:-1] / RATE):
        rots.append(rots[-1] * step)
    att = Rotation.concatenate(rots)
    lin = np.zeros((n, 3))
    lin[: int(RATE), 0] = 3.0  # world-frame sideways push for the first second
    acc = att.inv().apply(lin + [0.0, 0.0, 9.81])
    return acc, gyr, att.as_quat()[:, [3, 0, 1, 2]]


def test_the_tilt_prior_is_tight_only_where_the_first_sample_reads_gravity_alone() -> None:
    model = AttitudeModel.load(SHIPPED)
    cs = np.zeros((int(model.core[0]), STRIDE))
    core_init(cs, np.array([0.1, -0.2, 9.8]), model.core)
    assert math.isclose(cs[0, P0], STILL_TILT_SD**2)
    core_init(cs, np.array([3.0, 0.0, 9.81]), model.core)  # |f| 0.45 m/s² above g
    assert math.isclose(cs[0, P0], MOVING_TILT_SD**2)
    core_init(cs, np.array([0.0, 0.0, 8.5]), model.core)  # falling or pushed down
    assert math.isclose(cs[0, P0], MOVING_TILT_SD**2)


def test_a_start_in_motion_is_corrected_and_the_stream_agrees() -> None:
    acc, gyr, truth = _moving_start()
    model = AttitudeModel.load(SHIPPED)
    q = model.run(acc, gyr, RATE)
    err = tilt_error_deg(q, truth)
    assert err[0] > 15.0  # the levelled start is off by atan(3 / 9.81)
    assert float(np.mean(err[int(10 * RATE):])) < 4.0  # 2.3° measured; with the old tight prior ~17° throughout
    stream = model.stream(acc[0], RATE)
    last = np.array([stream.step(a, g).copy() for a, g in zip(acc[:400], gyr[:400], strict=True)])
    np.testing.assert_allclose(last, q[:400], atol=1e-12)
