"""The core's rest update: at rest (VQF's detector), the gyro reads its own bias, on every axis, the one
about gravity included, which no accelerometer sees (``neuroedge.imu.core._at_rest``)."""

from __future__ import annotations

import math

import numpy as np

from neuroedge.imu.core import RS, STRIDE, core_init, core_params, core_step


def _run(gyr: np.ndarray, acc: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """The single member's bias estimate after the recording, and whether it was at rest at each sample."""
    cp = core_params([(1.0, 0.6)], 3.0, 0.1, fixed_sigma_a=0.05, gyro_noise_s=1.0)
    cs = np.zeros((1, STRIDE))
    core_init(cs, acc[0], cp)
    q, rest = np.zeros(4), []
    for a, w in zip(acc, gyr, strict=True):
        core_step(cs, a, w, 0.05, 1.0 / rate, cp, q)
        rest.append(cs[0, RS + 6] >= 1.5)
    return cs[0, 4:7].copy(), np.array(rest)


def _still(rate: float, seconds: float, bias_dps: tuple[float, float, float], seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    gyr = np.radians(bias_dps) + math.radians(0.02) * math.sqrt(rate) * rng.standard_normal((n, 3))
    acc = np.array([0.0, 0.0, 9.81]) + 0.004 * math.sqrt(rate) * rng.standard_normal((n, 3))
    return gyr, acc


def test_at_rest_the_bias_is_read_on_every_axis_the_vertical_one_too() -> None:
    bias = (0.6, -0.9, 1.2)  # °/s; the last is about gravity here
    gyr, acc = _still(200.0, 20.0, bias, 0)
    est, rest = _run(gyr, acc, 200.0)
    assert rest[: int(1.4 * 200)].sum() == 0 and rest[-int(15 * 200):].all()  # after 1.5 s, and from then on
    np.testing.assert_allclose(np.degrees(est), bias, atol=0.1)


def test_turning_or_shaken_is_not_rest() -> None:
    rate = 200.0
    gyr, acc = _still(rate, 10.0, (0.3, 0.0, 0.0), 1)
    turning = gyr + np.radians([0.0, 0.0, 5.0])  # a steady 5 °/s turn: not a bias
    assert not _run(turning, acc, rate)[1].any()
    t = np.arange(len(acc)) / rate
    shaken = acc + np.stack([2.0 * np.sin(2 * np.pi * 3 * t), 0 * t, 0 * t], axis=1)  # 2 m/s² at 3 Hz
    assert not _run(gyr, shaken, rate)[1].any()


def test_a_slow_sway_is_not_rest_but_a_long_still_stretch_stays_one() -> None:
    """A bias holds still, a slow sway drifts (``REST_DRIFT``). A 0.5 °/s sway at 0.1 Hz passes every other
    threshold all the time; with the drift check it is rest under a third of the time (near its peaks, where
    the rate holds for 1.5 s: 24-30% on these seeds). A still stretch, once at rest, is not broken up."""
    rate = 200.0
    for seed in range(3):
        gyr, acc = _still(rate, 20.0, (0.5, -0.4, 0.8), seed)
        rest = _run(gyr, acc, rate)[1]
        assert rest[int(5 * rate):].all()
        t = np.arange(len(acc)) / rate
        sway = gyr + np.radians(0.5) * np.stack([np.sin(2 * np.pi * 0.1 * t), 0 * t, 0 * t], axis=1)
        assert _run(sway, acc, rate)[1][int(5 * rate):].mean() < 1 / 3
