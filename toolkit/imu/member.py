"""One member of the Kalman core's bank: an error-state Kalman filter on tilt, gyro bias and the horizontal
velocity the accelerometer implies (the model: ``docs/imu_core.md``; the state's layout: ``neuroedge.imu.core``'s
doc). ``neuroedge.imu.core`` runs several side by side and gates between them.

Its own file so that the core stays small; ``neuroedge.imu.core`` compiles it into its cached loop and
``neuroedge.imu.numba_stamp`` recompiles that loop when this file changes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

N_ERR = 10  # error state: tilt (3), gyro bias (3), velocity (2), drift (2)
P0 = 11  # offset of P in a hypothesis' state
# At rest the gyro reads the bias itself (``neuroedge.imu.core._at_rest`` decides when; docs/imu_core.md "Rest").
REST_S = 1.5  # s at rest before the gyro is read as the bias
REST_SD = math.radians(0.2)  # rad/s: what REST_S seconds at rest tell of the bias at best (a rest may be slow motion)


@njit(cache=True)
def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([a[0] * b[0] - a[1] * b[1] - a[2] * b[2] - a[3] * b[3],
                     a[0] * b[1] + a[1] * b[0] + a[2] * b[3] - a[3] * b[2],
                     a[0] * b[2] - a[1] * b[3] + a[2] * b[0] + a[3] * b[1],
                     a[0] * b[3] + a[1] * b[2] - a[2] * b[1] + a[3] * b[0]])


@njit(cache=True)
def _exp(tx: float, ty: float, tz: float) -> np.ndarray:
    th = math.sqrt(tx * tx + ty * ty + tz * tz)
    k = math.sin(0.5 * th) / th if th > 1e-8 else 0.5 - th * th / 48.0
    return np.array([math.cos(0.5 * th), k * tx, k * ty, k * tz])



@njit(cache=True)
def hyp_step(st: np.ndarray, acc: np.ndarray, gyr: np.ndarray, sigma_v: float, tau: float, dt: float,
              cp: np.ndarray, gyro_noise: float, rest: bool) -> None:
    """One predict + update of one hypothesis, in place (``gyro_noise``: rad/s/√Hz)."""
    q = _qmul(st[0:4], _exp((gyr[0] - st[4]) * dt, (gyr[1] - st[5]) * dt, (gyr[2] - st[6]) * dt))
    q /= math.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2 + q[3] ** 2)
    w, x, y, z = q[0], q[1], q[2], q[3]
    r = np.array([[w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)],
                  [2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)],
                  [2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z]])
    f = r @ acc
    u0, u1 = st[7] + f[0] * dt, st[8] + f[1] * dt
    decay = dt / tau
    v0, v1 = st[9] * (1.0 - decay), st[10] * (1.0 - decay)
    phi = np.eye(N_ERR)
    phi[0:3, 3:6] = -r * dt
    phi[8, 1], phi[8, 2] = f[2] * dt, -f[1] * dt
    phi[9, 0], phi[9, 2] = -f[2] * dt, f[0] * dt
    phi[6, 6] = phi[7, 7] = 1.0 - decay
    p = st[P0:P0 + 100].reshape((N_ERR, N_ERR))
    p = phi @ p @ phi.T
    for k in range(3):
        p[k, k] += dt * gyro_noise ** 2
        p[3 + k, 3 + k] += dt * cp[4] ** 2
    qv = dt * 2.0 / tau * sigma_v * sigma_v
    p[6, 6] += qv
    p[7, 7] += qv
    # update with u = v + d: H rows e6 + e8 and e7 + e9
    pht = np.empty((N_ERR, 2))
    for k in range(N_ERR):
        pht[k, 0] = p[k, 6] + p[k, 8]
        pht[k, 1] = p[k, 7] + p[k, 9]
    s00 = pht[6, 0] + pht[8, 0] + cp[6]
    s01 = pht[6, 1] + pht[8, 1]
    s10 = pht[7, 0] + pht[9, 0]
    s11 = pht[7, 1] + pht[9, 1] + cp[6]
    det = s00 * s11 - s01 * s10
    i00, i01, i10, i11 = s11 / det, -s01 / det, -s10 / det, s00 / det
    e0, e1 = u0 - v0, u1 - v1
    gain = np.empty((N_ERR, 2))
    for k in range(N_ERR):
        gain[k, 0] = pht[k, 0] * i00 + pht[k, 1] * i10
        gain[k, 1] = pht[k, 0] * i01 + pht[k, 1] * i11
    dx = gain[:, 0] * e0 + gain[:, 1] * e1
    p = p - gain @ pht.T
    if rest:  # the gyro reads the bias: y = ω - b̂ = -δb + n, n per sample of variance gyro_noise² / dt
        y = gyr - (st[4:7] - dx[3:6])
        sb = p[3:6, 3:6] + np.eye(3) * (max(gyro_noise * gyro_noise, REST_SD * REST_SD * REST_S) / dt)
        k_r = -np.ascontiguousarray(p[:, 3:6]) @ np.linalg.inv(sb)
        dx = dx + k_r @ y
        p = p + k_r @ np.ascontiguousarray(p[3:6, :])
    p = 0.5 * (p + p.T)
    q = _qmul(_exp(-dx[0], -dx[1], -dx[2]), q)
    q /= math.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2 + q[3] ** 2)
    st[0:4] = q
    st[4:7] -= dx[3:6]
    st[7], st[8] = u0 - dx[8], u1 - dx[9]
    st[9], st[10] = v0 + dx[6], v1 + dx[7]
    st[P0:P0 + 100] = p.reshape(100)
