"""Which gyro units a recording is in, told by predicting the accelerometer's view of gravity.

``units_check.gyro_accel_scale`` compares ``ḟ`` with ``-ω × f`` sample by sample, which needs stretches
where the accelerometer sees gravity alone: a device that is carried or swung all the time (a
pendulum-like swing with 4 m/s² of sway, generated outside this project) gives it no such stretch, and a
deg/s file then ran unchecked, 91° wrong. This check needs no calm stretch. Over windows of a quarter
second it turns the smoothed direction of the specific force at the window's start by the gyro's
rotation over the window, at each candidate scale (the declared units, deg/s read as rad/s, rad/s read
as deg/s), and measures the angle to the direction at the window's end. Linear acceleration disturbs
every candidate alike; the wrong units turn the prediction 57x too far or too little, so the scale
with the smallest median error wins by a wide margin wherever the device tilts at all.
"""

from __future__ import annotations

import math

import numpy as np

CANDIDATES = {"as declared": 1.0, "deg/s read as rad/s": math.pi / 180.0, "rad/s read as deg/s": 180.0 / math.pi}
WINDOW_S = 0.25
MIN_TILT_DEG = 3.0  # a window counts where gravity's direction moves this much or more
MIN_WINDOWS = 8  # such windows (2 s of them) at least, or the recording tilts too little to tell
TOO_LITTLE = (f"the recording tilts too little to tell: fewer than {MIN_WINDOWS} windows of {WINDOW_S:g} s in which "
              f"gravity's direction moves {MIN_TILT_DEG:g}° or more")
MARGIN = 2.0  # the declared units lose only to a scale at least this many times better
EXPLAINED = 0.5  # telling needs the best scale's miss at most this share of no rotation's (gyro_axes' figure)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(_unit(a) * _unit(b), axis=-1), -1.0, 1.0)))


def _turn(v: np.ndarray, w: np.ndarray, dt: float) -> np.ndarray:
    """Each row of ``v`` (a body-frame vector fixed in the world) after the body turns by ``w[:, k]`` for
    ``dt`` at each step k: ``v ← exp(-[ω dt]×) v``, Rodrigues' formula, vectorised over windows."""
    for k in range(w.shape[1]):
        theta = -w[:, k] * dt
        angle = np.linalg.norm(theta, axis=1, keepdims=True)
        axis = theta / np.maximum(angle, 1e-12)
        c, s = np.cos(angle), np.sin(angle)
        v = v * c + np.cross(axis, v) * s + axis * np.sum(axis * v, axis=1, keepdims=True) * (1 - c)
    return v


def windows(acc: np.ndarray, gyr: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``WINDOW_S`` windows in which gravity's direction moves ``MIN_TILT_DEG`` or more: the smoothed direction
    at each start ``[W, 3]``, the gyro over each ``[W, steps, 3]``, the direction at each end ``[W, 3]``; None
    for a recording with fewer than ``MIN_WINDOWS`` of them."""
    from scipy.ndimage import uniform_filter1d

    n_win = max(2, int(round(WINDOW_S * rate)))
    f = _unit(uniform_filter1d(np.asarray(acc, np.float64), n_win, axis=0))
    starts = np.arange(n_win, len(f) - 2 * n_win, n_win)
    # Only windows in which gravity's direction moves: a recording still most of the time (put down between
    # bursts) would otherwise have a median of nothing to predict, and be left unchecked.
    starts = starts[_angle_deg(f[starts], f[starts + n_win]) >= MIN_TILT_DEG]
    if starts.size < MIN_WINDOWS:
        return None
    w = np.stack([np.asarray(gyr, np.float64)[s:s + n_win] for s in starts])
    return f[starts], w, f[starts + n_win]


def gyro_scale_errors(acc: np.ndarray, gyr: np.ndarray, rate: float) -> tuple[dict[str, float], float]:
    """Median angle (deg) between predicted and measured gravity direction per candidate scale, and the
    median tilt change per window (how much there is to predict), over the windows in which it moves."""
    win = windows(acc, gyr, rate)
    if win is None:
        return {}, 0.0
    start, w, measured = win
    errors = {name: float(np.median(_angle_deg(_turn(start, w * scale, 1.0 / rate), measured)))
              for name, scale in CANDIDATES.items()}
    return errors, float(np.median(_angle_deg(start, measured)))


def gyro_units_verdict(acc: np.ndarray, gyr: np.ndarray, rate: float) -> tuple[str | None, str, bool]:
    """``(wrong, detail, told)``: ``wrong`` names the candidate that fits far better than the declared units
    (None when the declared units fit, or when the recording cannot tell); ``detail`` says why; ``told``
    whether the recording could tell at all.

    Telling needs turning to be what moves gravity's direction: the best scale's miss at most ``EXPLAINED``
    of no rotation's (the tilt change itself), as in ``neuroedge.imu.gyro_axes``. Where linear acceleration
    moves it more (a gait), a gyro read 57x too slow predicts about as well as the right one, and used to
    pass as checked (36 of 200 such readings on ``benchmarks/imu_units.py``'s ``fresh`` set, at 496200d)."""
    errors, tilt = gyro_scale_errors(acc, gyr, rate)
    if not errors:
        return None, TOO_LITTLE, False
    declared = errors["as declared"]
    best = min(errors, key=errors.get)
    detail = ", ".join(f"{k} {v:.1f}°" for k, v in errors.items())
    if best != "as declared" and errors[best] * MARGIN < declared:
        return best, f"gravity's direction predicted from the gyro over {WINDOW_S:g} s windows misses by {detail}", True
    if errors[best] > EXPLAINED * tilt:
        return None, (f"turning moves gravity's direction too little, against linear acceleration, to tell the "
                      f"gyro's units (the best scale misses {errors[best]:.1f}° of {tilt:.1f}° per {WINDOW_S:g} s; "
                      f"{detail})"), False
    return None, f"predicted gravity direction misses by {detail}", True
