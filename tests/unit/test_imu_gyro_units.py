"""Gyro units on a recording with no calm stretch: a swinging device whose accelerometer never sees
gravity alone (the sample-by-sample rate check has nothing to compare on, so it used to pass a deg/s
file unchecked, 91° wrong)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuroedge.imu.families import ImuSequence, generate_split
from neuroedge.imu.gyro_units import gyro_units_verdict
from neuroedge.imu.recording import ImuDataError, check_units


def _swing(seconds: float = 30.0, rate: float = 100.0) -> tuple[np.ndarray, np.ndarray, float]:
    """A pendulum-like swing (roll ±35° at 1.7 s, pitch ±15°, slow yaw) with 4 m/s² of sideways sway:
    written from the physics here, not from the project's motion families."""
    from scipy.spatial.transform import Rotation

    t = np.arange(int(seconds * rate)) / rate
    rot = Rotation.from_euler("ZYX", np.stack([0.3 * t, np.deg2rad(15) * np.sin(2 * np.pi * t / 6.3 + 0.4),
                                               np.deg2rad(35) * np.sin(2 * np.pi * t / 1.7)], 1))
    gyr = (rot[:-1].inv() * rot[1:]).as_rotvec() * rate
    gyr = np.vstack([gyr, gyr[-1:]])
    pos = np.stack([0.3 * np.sin(2 * np.pi * t / 1.7), 0.1 * np.sin(2 * np.pi * t / 0.9), 0 * t], 1)
    acc_world = np.gradient(np.gradient(pos, 1 / rate, axis=0), 1 / rate, axis=0) + [0.0, 0.0, 9.81]
    rng = np.random.default_rng(3)
    acc = rot.inv().apply(acc_world) + rng.normal(0, 0.05, (len(t), 3))
    return acc, gyr + rng.normal(0, 0.005, gyr.shape), rate


def _seq(acc: np.ndarray, gyr: np.ndarray, rate: float) -> ImuSequence:
    return ImuSequence(t=np.arange(len(acc)) / rate, acc=acc, gyr=gyr, q=None, rate_hz=rate,
                       meta={"gyro_units": "rad/s", "accel_units": "m/s2"})


def test_a_deg_s_swing_read_as_rad_s_is_refused_with_the_reason() -> None:
    acc, gyr, rate = _swing()
    assert gyro_units_verdict(acc, gyr, rate)[0] is None
    assert gyro_units_verdict(acc, gyr * 180 / math.pi, rate)[0] == "deg/s read as rad/s"
    with pytest.raises(ImuDataError, match="looks like deg/s: pass --gyro-units deg/s"):
        check_units(_seq(acc, gyr * 180 / math.pi, rate), "swing.csv")
    # Right, it is not refused; but the sway moves gravity's direction more than the turning does, so a gyro
    # read 57x too slow would predict about as well: neither reading is passed as checked.
    for scale in (1.0, math.pi / 180):
        notes = " ".join(check_units(_seq(acc, gyr * scale, rate), "swing.csv"))
        assert "gyro units not checked: turning moves gravity's direction too little" in notes


@pytest.mark.parametrize("family", ["handheld", "random_walk", "vehicle", "fast_rotation", "impacts"])
def test_right_units_are_never_refused_and_deg_s_is_caught_where_the_device_tilts(family: str) -> None:
    for seq in generate_split("test", family, 2, duration_s=20.0):
        assert gyro_units_verdict(seq.acc, seq.gyr, seq.rate_hz)[0] is None
        wrong = gyro_units_verdict(seq.acc, seq.gyr * 180 / math.pi, seq.rate_hz)[0]
        # a car barely tilts: caught where its bumps and turns move gravity's direction in enough windows
        assert wrong == "deg/s read as rad/s" or (family == "vehicle" and wrong is None)
    if family == "vehicle":
        seqs = generate_split("test", family, 2, duration_s=20.0)
        assert [gyro_units_verdict(s.acc, s.gyr * 180 / math.pi, s.rate_hz)[0] for s in seqs] == \
            [None, "deg/s read as rad/s"]


def test_a_recording_still_most_of_the_time_is_checked_on_its_moves() -> None:
    """Put down for 32 of 40 s, shaken in four 2 s bursts: the median window has nothing to predict, so the
    checks read only the windows in which gravity's direction moves."""
    from scipy.spatial.transform import Rotation

    from neuroedge.imu.gyro_axes import gyro_axes_verdict

    rate, n = 100.0, 4000
    rng = np.random.default_rng(5)
    t = np.arange(n) / rate
    shaken = np.zeros(n)
    for start in (5.0, 14.0, 23.0, 32.0):
        shaken[(t >= start) & (t < start + 2.0)] = 1.0
    phase = rng.uniform(0, 2 * np.pi, 3)
    w = shaken[:, None] * 2.0 * np.sin(2 * np.pi * np.array([1.3, 1.7, 0.9]) * t[:, None] + phase)
    rots = [Rotation.identity()]
    for step in Rotation.from_rotvec(w[:-1] / rate):
        rots.append(rots[-1] * step)
    att = Rotation.concatenate(rots)
    acc = att.inv().apply(np.tile([0.0, 0.0, 9.81], (n, 1))) + rng.normal(0, 0.03, (n, 3))
    gyr = w + np.radians(0.5) + rng.normal(0, 0.003, (n, 3))
    assert gyro_units_verdict(acc, gyr, rate)[0] is None
    assert gyro_units_verdict(acc, np.degrees(gyr), rate)[0] == "deg/s read as rad/s"
    refusal, _ = gyro_axes_verdict(acc, gyr * [1.0, -1.0, 1.0], rate, {})
    assert refusal is not None and "pass --columns gy=-gy" in refusal
    assert gyro_axes_verdict(acc, gyr, rate, {}) == (None, None)
