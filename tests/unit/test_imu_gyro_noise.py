"""The core's measured gyro noise: it reads a gyro's white noise from its second differences, and a gyro
noisier than the datasheet figure then weighs less (``neuroedge.imu.core``, ``gyro_noise_s``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuroedge.imu import quaternion as quat
from neuroedge.imu.core import GN, STRIDE, core_init, core_params, core_scan, core_step


def _measured_density(gyr: np.ndarray, rate: float) -> float:
    cp = core_params([(1.0, 0.6)], 3.0, 0.1, fixed_sigma_a=1.0, gyro_noise_s=1.0)
    cs = np.zeros((1, STRIDE))
    acc = np.array([0.0, 0.0, 9.81])
    core_init(cs, acc, cp)
    q = np.zeros(4)
    for w in gyr:
        core_step(cs, acc, w, 1.0, 1.0 / rate, cp, q)
    return math.sqrt(cs[0, GN + 6] / rate)


@pytest.mark.parametrize("rate", [50.0, 200.0])
def test_white_noise_is_read_at_its_density_still_and_turning(rate: float) -> None:
    rng = np.random.default_rng(0)
    n = int(20 * rate)
    density = math.radians(0.2)  # rad/s/√Hz
    noise = rng.standard_normal((n, 3)) * density * math.sqrt(rate)
    t = np.arange(n) / rate
    turning = np.stack([np.sin(2 * np.pi * 0.3 * t), 0.5 * np.cos(2 * np.pi * 0.2 * t), 0 * t], axis=1)
    assert _measured_density(noise, rate) == pytest.approx(density, rel=0.15)
    assert _measured_density(noise + turning, rate) == pytest.approx(density, rel=0.15)


def test_a_noisy_gyro_weighs_less_with_its_noise_measured() -> None:
    """Level and still, a gyro 50x a consumer part's noise: measured, the tilt error drops."""
    rng = np.random.default_rng(1)
    rate, n = 100.0, 4000
    acc = np.tile([0.0, 0.0, 9.81], (n, 1)) + 0.01 * math.sqrt(rate) * rng.standard_normal((n, 3))
    gyr = math.radians(0.5) * math.sqrt(rate) * rng.standard_normal((n, 3))
    sa = np.full(n, 0.07)
    level = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    errors = {}
    for window in (0.0, 1.0):
        cp = core_params([(1.0, 0.6)], 3.0, 0.02, gyro_noise_s=window)
        errors[window] = float(np.mean(quat.tilt_error_deg(core_scan(acc, gyr, sa, rate, cp)[1000:], level[1000:])))
    assert errors[1.0] < 0.7 * errors[0.0], errors
