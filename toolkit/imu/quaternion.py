"""Quaternion maths shared by the IMU generator, the attitude model's metrics and the baselines.

Convention: unit quaternions ``q = (w, x, y, z)``, Hamilton product, ``q`` rotates body-frame
vectors into the world frame (z up): ``v_world = q ⊗ (0, v_body) ⊗ q*``. Arrays are ``[..., 4]``.
"""

from __future__ import annotations

import numpy as np

UP = np.array([0.0, 0.0, 1.0])


def normalize(q: np.ndarray) -> np.ndarray:
    """``q / |q|`` along the last axis."""
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def conj(q: np.ndarray) -> np.ndarray:
    """``q* = (w, -x, -y, -z)``: the inverse of a unit quaternion."""
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def multiply(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product ``p ⊗ q`` (broadcasts over leading axes)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    pw, px, py, pz = np.moveaxis(p, -1, 0)
    qw, qx, qy, qz = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw,
        ],
        axis=-1,
    )


def exp_rotvec(v: np.ndarray) -> np.ndarray:
    """Rotation vector ``v`` (axis * angle, rad) -> unit quaternion ``(cos(θ/2), sin(θ/2) v/θ)``."""
    v = np.asarray(v, dtype=np.float64)
    theta = np.linalg.norm(v, axis=-1, keepdims=True)
    half = 0.5 * theta
    # sin(θ/2)/θ -> 1/2 as θ -> 0; the series keeps small rotations exact in float64.
    k = np.where(theta > 1e-8, np.sin(half) / np.maximum(theta, 1e-300), 0.5 - theta**2 / 48.0)
    return np.concatenate([np.cos(half), k * v], axis=-1)


def log_rotvec(q: np.ndarray) -> np.ndarray:
    """Unit quaternion -> rotation vector (the inverse of ``exp_rotvec``, shortest arc)."""
    q = normalize(q)
    q = np.where(q[..., :1] < 0, -q, q)
    s = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    k = np.where(s > 1e-12, angle / np.maximum(s, 1e-300), 2.0)
    return k * q[..., 1:]


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``q ⊗ (0, v) ⊗ q*``: a body-frame vector in the world frame."""
    v = np.asarray(v, dtype=np.float64)
    v4 = np.concatenate([np.zeros(v.shape[:-1] + (1,)), v], axis=-1)
    return multiply(multiply(q, v4), conj(q))[..., 1:]


def up_in_body(q: np.ndarray) -> np.ndarray:
    """The world's up axis seen in the body frame, ``R(q)^T e_z``: what tilt is measured on."""
    q = normalize(q)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z], axis=-1)


def tilt_error_deg(q_est: np.ndarray, q_true: np.ndarray) -> np.ndarray:
    """Roll/pitch error in degrees: the angle between the two estimates of up in the body frame.

    ``e = acos(u_est · u_true)`` with ``u = R(q)^T e_z``. Heading (yaw) does not enter, which is what a
    6-axis IMU can observe.
    """
    dot = np.sum(up_in_body(q_est) * up_in_body(q_true), axis=-1)
    return np.degrees(np.arccos(np.clip(dot, -1.0, 1.0)))


def rotation_error_deg(q_est: np.ndarray, q_true: np.ndarray) -> np.ndarray:
    """Total rotation error in degrees: ``2 acos(|<q_est, q_true>|)``, the angle of ``q_true* ⊗ q_est``."""
    dot = np.abs(np.sum(normalize(q_est) * normalize(q_true), axis=-1))
    return np.degrees(2.0 * np.arccos(np.clip(dot, -1.0, 1.0)))


def heading_aligned(q_est: np.ndarray, q_true: np.ndarray, index: int = 0) -> np.ndarray:
    """Rotate ``q_est`` about world z so its heading matches ``q_true`` at ``index``.

    A 6-axis filter cannot know the initial heading, so total rotation error is only meaningful after
    removing that one constant yaw offset: ``q' = R_z(δ) ⊗ q_est`` with δ the yaw of ``q_true q_est*``.
    """
    d = multiply(q_true[index], conj(q_est[index]))
    yaw = np.arctan2(2 * (d[0] * d[3] + d[1] * d[2]), 1 - 2 * (d[2] ** 2 + d[3] ** 2))
    rz = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
    return multiply(rz, q_est)


def from_accel(acc: np.ndarray) -> np.ndarray:
    """The zero-yaw attitude whose up axis matches the accelerometer (at rest it reads +g on up)."""
    a = np.asarray(acc, dtype=np.float64)
    a = a / np.linalg.norm(a)
    # Shortest rotation taking the body's measured up `a` to world up: q rotates body -> world.
    axis = np.cross(a, UP)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0]) if a[2] > 0 else np.array([0.0, 1.0, 0.0, 0.0])
    angle = np.arctan2(s, float(np.dot(a, UP)))
    return exp_rotvec(axis / s * angle)


def present(q: np.ndarray) -> np.ndarray:
    """Rows that hold a reference quaternion: a motion-capture dropout is read as a row of NaN."""
    return np.isfinite(q).all(axis=-1)


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (exclusive) of the runs of True in ``mask``: the stretches with, or without, a reference."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]])))
    return edges[::2], edges[1::2]


def mean_tilt_deg(q_est: np.ndarray, q_true: np.ndarray) -> float:
    """Mean ``tilt_error_deg`` over the rows where ``q_true`` is present (NaN if it is on none)."""
    ok = present(q_true)
    return float(np.mean(tilt_error_deg(q_est[ok], q_true[ok]))) if ok.any() else float("nan")
