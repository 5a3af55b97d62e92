"""A recording's reference attitude, checked against its own accelerometer before anything is scored on it.

A tilt error against reference quaternions means something only if they are what the model outputs:
body -> world, the world's z axis up, for the IMU's own axes. Other conventions are common in datasets
and tools (world -> body; a z-down world such as NED; scalar-last order), and each turns the printed
error into a figure about the convention, not the model. So the reference is checked first.

**The checks** (figures from 82 recordings of 40 s: our five families x 10 and
``benchmarks/imu_foreign.py``'s four kinds x 8, their references written in each convention):

* *Gravity.* The specific force rotated into the world by the reference averages to ``(0, 0, g)``: its
  linear part is the change of velocity over the recording over its length. It must lie within
  ``MAX_ANGLE_DEG`` of up with a magnitude within ``MAGNITUDE`` of g (all 82 do). A z-down world puts it
  170-180° off, scalar-last order shrinks it to 0.06-0.56 g. World -> body is caught on 70 of 82 only:
  where the device stays near level, the wrongly turned copies of gravity still average to about up.
* *Rotation.* The reference's own body rate (over 0.05 s strides) must follow the gyro's: their
  correlation, a constant gyro bias removed, is ``MIN_RATE_CORRELATION`` or more (correct: 0.994-1.000;
  world -> body: at most 0.28, since its increments are the rotation in the world frame, reversed;
  scalar-last: at most 0.53). A recording that hardly turns (RMS rate under ``MIN_RATE_RAD_S``) is not
  checked this way, and the caller is told.

* *Both pass* (a world -> body NED reference read as body -> NED, 7 of 82, mostly turning about the
  vertical): the one whose gravity stays nearer up within 1 s windows (``window_angle``) is the fit; the
  right reading was 6-18° nearer in every such case.

A reference that fails is refused, naming the convention that passes both if one does;
``--reference-frame`` (which way the quaternion turns) and ``--reference-world`` (which world axis is up:
NED is ``z-down``, OptiTrack's default ``y-up``) convert a known one, and ``--skip-reference-check``
scores it anyway.
"""

from __future__ import annotations

import math

import numpy as np

from neuroedge.imu import quaternion as quat
from neuroedge.imu.families import GRAVITY, ImuSequence
from neuroedge.imu.layouts import REFERENCE_FRAMES, REFERENCE_WORLDS
from neuroedge.imu.recording import ImuDataError

MAX_ANGLE_DEG = 10.0
MAGNITUDE = (0.9, 1.1)
MIN_RATE_CORRELATION = 0.8
MIN_RATE_RAD_S = 0.1
RATE_STRIDE_S = 0.05
MIN_PRESENT_S = 1.0  # of reference rows (dropouts aside), to check it or score against it
_H = math.sqrt(0.5)
WORLD_TO_Z_UP = {  # a constant rotation taking the reference world's up axis to z (tilt ignores yaw)
    "z-up": np.array([1.0, 0.0, 0.0, 0.0]),
    "z-down": np.array([0.0, 1.0, 0.0, 0.0]),  # 180° about x
    "y-up": np.array([_H, _H, 0.0, 0.0]),  # +90° about x takes y to z
    "y-down": np.array([_H, -_H, 0.0, 0.0]),
    "x-up": np.array([_H, 0.0, -_H, 0.0]),  # -90° about y takes x to z
    "x-down": np.array([_H, 0.0, _H, 0.0]),
}
assert tuple(WORLD_TO_Z_UP) == REFERENCE_WORLDS
CONVENTIONS = [(frame, world) for world in REFERENCE_WORLDS for frame in REFERENCE_FRAMES]


def dropouts(seq: ImuSequence, path: str = "recording") -> list[str]:
    """A note on the reference's dropouts (rows without a quaternion), if it has any: how many, how long."""
    if seq.q is None or quat.present(seq.q).all():
        return []
    lost = ~quat.present(seq.q)
    starts, ends = quat.runs(lost)
    longest = int(np.argmax(ends - starts))
    return [f"{path}: the reference is missing on {lost.sum()} of {len(lost)} rows ({100 * lost.mean():.1f}%, "
            f"{len(starts)} dropout{'s' if len(starts) > 1 else ''}, the longest {(ends - starts)[longest] / seq.rate_hz:.2f} s "
            f"from t = {seq.t[starts[longest]] - seq.t[0]:.2f} s); the model runs through them, and errors are "
            "scored on the rows that have one"]


def name(convention: tuple[str, str]) -> str:
    """The options that read a reference in ``convention``: ``(frame, world)``."""
    return f"--reference-frame {convention[0]} --reference-world {convention[1]}"


def to_model_frame(q: np.ndarray, frame: str = "body-to-world", world: str = "z-up") -> np.ndarray:
    """Reference quaternions ``[N, 4]`` (w first), turning ``frame``-wise in a ``world`` whose named axis
    points up, as body -> world with z up (the model's own)."""
    if frame not in REFERENCE_FRAMES:
        raise ImuDataError(f"--reference-frame {frame!r} is not one of {', '.join(REFERENCE_FRAMES)}")
    if world not in WORLD_TO_Z_UP:
        raise ImuDataError(f"--reference-world {world!r} is not one of {', '.join(REFERENCE_WORLDS)}")
    q = np.asarray(q, dtype=np.float64)
    return quat.normalize(quat.multiply(WORLD_TO_Z_UP[world], q if frame == "body-to-world" else quat.conj(q)))


def gravity_fit(acc: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """``(angle from up in degrees, magnitude / g)`` of the mean specific force rotated into the world by ``q``
    (over the rows where ``q`` is present)."""
    ok = quat.present(q)
    mean = quat.rotate(quat.normalize(q[ok]), acc[ok]).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        return 180.0, 0.0
    return math.degrees(math.acos(max(-1.0, min(1.0, mean[2] / norm)))), norm / GRAVITY


def window_angle(seq: ImuSequence, q: np.ndarray, window_s: float = 1.0) -> float:
    """The median, over ``window_s`` windows, of the angle (degrees) between up and the window's mean
    specific force rotated into the world by ``q``: what tells apart two conventions that both pass."""
    n = max(1, int(round(window_s * seq.rate_hz)))
    k = len(seq) // n
    if k == 0:
        return gravity_fit(seq.acc, q)[0]
    mean = quat.rotate(quat.normalize(q[: k * n]), seq.acc[: k * n]).reshape(k, n, 3).mean(axis=1)
    mean = mean[quat.present(mean)]  # windows with a dropout in them are left out
    if len(mean) == 0:
        return gravity_fit(seq.acc, q)[0]
    cos = mean[:, 2] / np.maximum(np.linalg.norm(mean, axis=1), 1e-12)
    return float(np.median(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))))


def rate_agreement(seq: ImuSequence, q: np.ndarray) -> tuple[float, float]:
    """``(correlation, RMS gyro rate in rad/s)`` of the reference's body rate and the gyro's over
    ``RATE_STRIDE_S`` strides, after the gyro's constant offset from it (a bias) is removed."""
    k = max(1, int(round(RATE_STRIDE_S * seq.rate_hz)))
    if len(seq) <= k + 1:
        return float("nan"), 0.0
    q = quat.normalize(q)
    w_ref = quat.log_rotvec(quat.multiply(quat.conj(q[:-k]), q[k:])) * (seq.rate_hz / k)
    c = np.cumsum(np.vstack([np.zeros(3), seq.gyr]), axis=0)
    w_g = (c[k:] - c[:-k])[: len(w_ref)] / k
    ok = quat.present(w_ref)  # strides that start and end where the reference is present
    if ok.sum() < 2:
        return float("nan"), 0.0
    w_ref, w_g = w_ref[ok], w_g[ok]
    w_g = w_g - np.median(w_g - w_ref, axis=0)
    rms = float(np.sqrt((w_g ** 2).sum(axis=1).mean()))
    den = float(np.sqrt((w_ref ** 2).sum() * (w_g ** 2).sum()))
    return (float((w_ref * w_g).sum()) / den if den > 0 else float("nan")), rms


def _verdict(seq: ImuSequence, q: np.ndarray, rate: tuple[float, float]) -> tuple[bool, str]:
    """Whether ``q`` (body -> world, z up) passes both checks, given its ``rate_agreement``; what was measured."""
    angle, mag = gravity_fit(seq.acc, q)
    rho, rms = rate
    ok = angle <= MAX_ANGLE_DEG and MAGNITUDE[0] <= mag <= MAGNITUDE[1]
    said = f"the accelerometer in its world averages to {mag:.2f} g at {angle:.1f}° from up"
    if rms >= MIN_RATE_RAD_S:
        ok = ok and rho >= MIN_RATE_CORRELATION
        said += f"; its body rate correlates {rho:.2f} with the gyro's"
    return ok, said


def check_reference(seq: ImuSequence, frame: str = "body-to-world", world: str = "z-up", path: str = "recording",
                    ) -> tuple[np.ndarray, list[str]]:
    """The reference as body -> world (z up) and notes on checks skipped, or an ``ImuDataError`` that says why
    it cannot be scored against (and which convention fits, if one does)."""
    if seq.q is None:
        raise ImuDataError(f"{path}: no reference columns qw,qx,qy,qz to check")
    if quat.present(seq.q).sum() < MIN_PRESENT_S * seq.rate_hz:
        raise ImuDataError(f"{path}: columns qw,qx,qy,qz: a quaternion on {quat.present(seq.q).sum()} rows only, "
                           f"under {MIN_PRESENT_S:.0f} s at {seq.rate_hz:.0f} Hz: too little to check or score against")
    # The world's turn to z-up leaves the body rate as it is, so the rate check is one per direction.
    rates = {f: rate_agreement(seq, to_model_frame(seq.q, f)) for f in REFERENCE_FRAMES}
    verdicts = {c: _verdict(seq, to_model_frame(seq.q, *c), rates[c[0]]) for c in CONVENTIONS}
    q = to_model_frame(seq.q, frame, world)
    ok, said = verdicts[(frame, world)]
    notes = []
    if rates[frame][1] < MIN_RATE_RAD_S:
        notes.append(f"reference checked against gravity only: the recording turns too little (RMS under "
                     f"{MIN_RATE_RAD_S} rad/s) to compare its rotation with the gyro's")
    passing = sorted((c for c in CONVENTIONS if verdicts[c][0]), key=lambda c: window_angle(seq, to_model_frame(seq.q, *c)))
    if ok and passing[0] == (frame, world):
        return q, notes
    others = [c for c in passing if c != (frame, world)]
    if ok:  # two conventions pass; the other keeps gravity closer to up second by second
        said += (f", but within 1 s windows its gravity is {window_angle(seq, q):.1f}° from up (median) "
                 f"against {window_angle(seq, to_model_frame(seq.q, *others[0])):.1f}° for {name(others[0])}")
    if others:
        hint = "; they fit " + " or ".join(name(c) for c in others)
    elif _verdict(seq, scalar_first := quat.normalize(seq.q[:, [3, 0, 1, 2]]), rate_agreement(seq, scalar_first))[0]:
        # the file's x, y, z, w read as w, x, y, z
        hint = ("; the quaternions look scalar-last (x, y, z, w): map qw to the file's fourth quaternion "
                "column with --columns qw=...,qx=...,qy=...,qz=...")
    else:
        hint = ("; no other convention fits either: the reference's body axes may not be the IMU's (a "
                "mounting offset between them), or its columns or time alignment are wrong")
    raise ImuDataError(
        f"{path}: columns qw,qx,qy,qz: read with {name((frame, world))}, {said}. A reference in that "
        f"convention gives about 1 g within {MAX_ANGLE_DEG:.0f}° of up and a body rate that follows the gyro "
        f"(correlation {MIN_RATE_CORRELATION} or more){hint}. A tilt error against it would measure the "
        "convention, not the model (--skip-reference-check scores it anyway)")
