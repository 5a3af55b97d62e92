"""Whether a recording's declared units (and gyro axes) fit its data: ``check_units``, which
``neuroedge.imu.recording.check_units`` calls.

Gravity's magnitude where the device is still tells the accelerometer's units; the gyro against the
accelerometer's view of gravity tells the gyro's (``gyro_accel_scale`` sample by sample where the
accelerometer sees gravity alone, else ``neuroedge.imu.gyro_units``' windowed prediction); the gyro's axes
against the accelerometer's come from ``neuroedge.imu.gyro_axes``. ``benchmarks/imu_units.py`` measures it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from neuroedge.imu.errors import ImuDataError
from neuroedge.imu.families import GRAVITY, ImuSequence

# |a| where still (or, never still, its median) that the accelerometer's units allow. Wide, because the units it
# tells apart differ 3.3x or more (g, m/s², ft/s², mg, cm/s²), and a recording shaken throughout reads more than
# g: E|f|² = g² + E|a_lin|², 11.2 m/s² at 2.5 m/s² a axis (``benchmarks/imu_foreign.py``'s ``slow``).
GRAVITY_BAND = (7.0, 14.0)
# The gyro's scale against the accelerometer's view of gravity (``gyro_accel_scale``): the units it tells apart
# are 57x apart, and linear acceleration in the calm samples scatters it (2.28 on a right recording turning under
# a steady push, ``benchmarks/imu_units.py``'s ``new`` set, refused under the old 0.5-2).
SCALE_BAND = (0.25, 4.0)
CALIBRATED = (9.3, 10.3)  # still, outside this: a note (a miscalibrated accelerometer, not wrong units)
MIN_STILL_WINDOWS = 2
# ``gyro_units_verdict``'s wrong readings: how the gyro turns against the accelerometer, and the unit it looks like
_WRONG_GYRO = {"deg/s read as rad/s": ("faster", "deg/s"), "rad/s read as deg/s": ("slower", "rad/s")}


def _still_windows(acc: np.ndarray, rate: float) -> np.ndarray:
    """Mean |a| over 0.5 s windows where the accelerometer's vector varies by under 2 % of |a| (the device is
    still, or nearly). The vector, not |a| alone: a device turning under a steady linear acceleration keeps
    |a| steady at 11-12 m/s² for seconds (``benchmarks/imu_foreign.py``'s ``slow``: 16 of 25 correct
    recordings were refused on |a| alone)."""
    w = max(4, int(0.5 * rate))
    n = len(acc) // w
    if n == 0:
        return np.empty(0)
    windows = acc[: n * w].reshape(n, w, 3)
    mean = np.linalg.norm(windows, axis=2).mean(axis=1)
    spread = np.sqrt(windows.var(axis=1).sum(axis=1))
    return mean[spread < 0.02 * np.maximum(mean, 1e-12)]


def gyro_accel_scale(acc: np.ndarray, gyr: np.ndarray, rate: float) -> tuple[float, float]:
    """``(s, ρ)``: the least-squares ``s`` in ``d(â)/dt ≈ -s (ω × â)``, and the correlation ``ρ`` of the two sides
    (scale-free: too low, and the recording tilts too little, or too noisily, to tell the units).

    Gravity seen from a rotating body turns as ``ḟ = -ω × f``; with both sensors in their declared units
    ``s ≈ 1``. A deg/s gyro read as rad/s gives ``s ≈ 1/57``; the reverse ``s ≈ 57``. A gyro's range alone
    cannot tell these apart (slow motion in deg/s looks like fast motion in rad/s); this can. Only samples
    where ``|a|`` is within 3 % of g count (where the accelerometer sees mostly gravity), and both sides are
    low-passed (0.1 s) so linear acceleration and noise weigh less.
    """
    from scipy.ndimage import uniform_filter1d

    w = max(1, int(round(0.1 * rate)))
    norm = np.linalg.norm(acc, axis=1, keepdims=True)
    a_hat = uniform_filter1d(acc / np.maximum(norm, 1e-9), w, axis=0)
    x = uniform_filter1d(np.cross(gyr, a_hat), w, axis=0)
    y = -np.gradient(a_hat, 1.0 / rate, axis=0)
    calm = uniform_filter1d((np.abs(norm[:, 0] - GRAVITY) < 0.03 * GRAVITY).astype(float), 2 * w + 1) > 0.999
    calm[:w + 1] = calm[-w - 1:] = False
    x, y = x[calm], y[calm]
    xx, yy = float(np.sum(x * x)), float(np.sum(y * y))
    if xx <= 0 or yy <= 0:
        return float("nan"), 0.0
    return float(np.sum(x * y)) / xx, float(np.sum(x * y)) / np.sqrt(xx * yy)


def check_units(seq: ImuSequence, path: str | Path = "recording") -> list[str]:
    """Refuse units or axes the data contradicts (an ``ImuDataError`` with the reason); return notes on checks
    skipped or in doubt.

    0. Neither sensor may read one constant value throughout (a dead sensor, or a column mapped wrong).
    1. Gravity: where the device is still (else over it all), |a| must be near g (``GRAVITY_BAND``); ~1 means g.
    2. Gyro against accelerometer (``gyro_accel_scale``): ``s`` must be within ``SCALE_BAND``.
    3. The gyro's axes against the accelerometer's (``neuroedge.imu.gyro_axes``): a sign or an order.
    """
    from neuroedge.imu.gyro_axes import gyro_axes_verdict

    for cols, x in (("ax,ay,az", seq.acc), ("gx,gy,gz", seq.gyr)):
        if len(x) > 2 and np.all(np.ptp(x, axis=0) == 0):
            raise ImuDataError(f"{path}: columns {cols}: every row reads {np.round(x[0], 6).tolist()}; a sensor "
                               "that does not move with the device (not connected, or the wrong columns)")
    notes = _check_scale(seq, path)
    refusal, note = gyro_axes_verdict(seq.acc, seq.gyr, seq.rate_hz, seq.meta.get("columns", {}))
    if refusal:
        raise ImuDataError(f"{path}: {refusal}")
    return notes + ([note] if note else [])


def _check_scale(seq: ImuSequence, path: str | Path) -> list[str]:
    """``check_units``' checks 1 and 2."""
    notes: list[str] = []
    au, gu = seq.meta.get("accel_units", "m/s2"), seq.meta.get("gyro_units", "rad/s")
    still = _still_windows(seq.acc, seq.rate_hz)
    if still.size < MIN_STILL_WINDOWS:  # one steady window can be a turn under a steady push, not rest
        still = np.empty(0)
    level = float(np.median(still)) if still.size else float(np.median(np.linalg.norm(seq.acc, axis=1)))
    where = f"{still.size} still half-second windows" if still.size else "the whole recording (never still)"
    if not GRAVITY_BAND[0] <= level <= GRAVITY_BAND[1]:
        hint = ""
        if GRAVITY_BAND[0] <= level * GRAVITY <= GRAVITY_BAND[1]:
            hint = "; it looks like g: pass --accel-units g"
        elif GRAVITY_BAND[0] <= level / GRAVITY <= GRAVITY_BAND[1]:
            hint = "; it looks like m/s² read as g: pass --accel-units m/s2"
        raise ImuDataError(f"{path}: columns ax,ay,az: gravity's magnitude over {where} is {level:.3g} m/s² "
                           f"with --accel-units {au}, not 9.81{hint}")
    if still.size and not CALIBRATED[0] <= level <= CALIBRATED[1]:
        notes.append(f"columns ax,ay,az: the accelerometer reads gravity as {level:.2f} m/s² over {where}; "
                     "a calibrated one reads 9.81 (the model takes it as read)")
    s, rho = gyro_accel_scale(seq.acc, seq.gyr, seq.rate_hz)
    if not math.isfinite(s) or rho < 0.7:
        # No calm stretch to compare rates on (a device carried or swung all the time): predict gravity's
        # direction over short windows instead, at each candidate scale (``neuroedge.imu.gyro_units``).
        from neuroedge.imu.gyro_units import gyro_units_verdict

        wrong, detail, told = gyro_units_verdict(seq.acc, seq.gyr, seq.rate_hz)
        if wrong in _WRONG_GYRO:
            pace, unit = _WRONG_GYRO[wrong]
            raise ImuDataError(f"{path}: columns gx,gy,gz: with --gyro-units {gu} the gyro turns the body far "
                               f"{pace} than the accelerometer sees it turn ({detail}); the gyro looks like "
                               f"{unit}: pass --gyro-units {unit}")
        notes.append(f"gyro units checked by predicting gravity's direction ({detail}): no calm stretch to "
                     f"compare rates on (correlation {rho:.2f}, needs 0.7)" if told
                     else f"gyro units not checked: {detail}")
        return notes
    if not SCALE_BAND[0] <= s <= SCALE_BAND[1]:
        # nearer 57x than 1x (in log, with room): linear acceleration scatters s around the units' ratio
        if 1 / 400 <= s <= 1 / 15:
            hint = "; the gyro looks like deg/s: pass --gyro-units deg/s"
        elif 15 <= s <= 400:
            hint = "; the gyro looks like rad/s: pass --gyro-units rad/s"
        else:
            hint = "; check the gyro's axes and units against the accelerometer's"
        raise ImuDataError(f"{path}: columns gx,gy,gz: with --gyro-units {gu} the gyro turns {1 / s:.3g}x as fast "
                           f"as the accelerometer's view of gravity (expected 1){hint}")
    return notes
