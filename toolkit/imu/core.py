"""The exact half of the attitude model: a bank of error-state Kalman filters, compiled with numba.

Each member is an error-state Kalman filter on tilt, gyro bias and the horizontal velocity the
accelerometer implies, that velocity an Ornstein-Uhlenbeck process whose noise ``σ_v = c · σ_a + floor``
follows the network; a consistency gate on each member's velocity estimate blends them; a velocity cap,
an accel floor and the gyro's measured noise put physics under the network's figure. The design and the
evidence for each part: ``docs/imu_core.md``. One member's filter is ``neuroedge.imu.member``, the network's
step ``neuroedge.imu.net_step``; this file runs the bank, its gate and the signals under it.

Layouts (flat float64 arrays, so one compiled call takes few arguments):

* ``cp`` (core parameters): ``[n, T, floor, gyro_noise, bias_walk, bias_init, acc_var, fixed_σ_a, z_0,
  accel_floor, accel_floor_s, gyro_noise_s, vel_cap_k, vel_cap_leak_s, vel_cap_s, vel_cap_floor]``
  then ``(c, τ, floor, z_0)`` per member, stiffest first (rad, s, m/s units; ``n`` is 1 to 4;
  ``fixed_σ_a >= 0`` bypasses the network: the ablation);
* ``cs`` (core state) ``[n, STRIDE]``: per hypothesis ``q (4), b̂ (3), u (2), v̂ (2), P (100)``, then the
  gate's ``z̄`` (1; every row but the loosest's; the loosest row keeps the accel floor's mean square there);
  row 0's 112-119 hold the measured gyro noise: the last two gyro samples, their mean square, a count;
  the loosest row's 120-123 the velocity cap's: the mean of ``|f| - g``, ``w``, its mean square, the time;
  row 0's 124-133 the rest detector's: low-passed gyro (3), accelerometer (3), time at rest, that gyro's mean (3).

"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from neuroedge.imu import numba_stamp
from neuroedge.imu.core_settings import core_params  # noqa: F401 - its home until now; imported from here
from neuroedge.imu.member import N_ERR, P0, REST_S, _exp, hyp_step
from neuroedge.imu.net_step import net_step

STRIDE = 134
RS = 124  # row 0: the rest detector's state (module doc)
VC = 120  # the loosest row: the velocity cap's state (module doc)
VCAP_MEAN_S = 4.0
SV_MIN = 1e-4  # m/s: a capped σ_v never reaches 0 (the gate divides by it)
GN = 112  # row 0: the gyro-noise estimate's state (module doc)
CP_HEAD = 16  # parameters before the per-hypothesis (c, τ, floor, z_0) quadruples
PER_HYP = 4
GATE_POWER = 8.0  # steepness of the gate in log z̄
GRAVITY = 9.81
# The network learns log(σ_a + 0.05) (``neuroedge.imu.learn.TARGET_FLOOR``), so its exp tells the core at least
# 0.05 m/s² even where nothing moves. This much of that floor is taken off what the core is fed (a test ties it
# to TARGET_FLOOR); the share, 0.25, kept by its rule: docs/imu_rule_checks.md (floor_share).
NET_FLOOR_OFF = 0.25 * 0.05
SIGMA_A_MIN = 0.001  # m/s²: what is left is never below this
# At rest (``_at_rest``; docs/imu_core.md "Rest") the gyro reads the bias itself. VQF's detector (Laidig & Seel
# 2023), plus: the low-passed gyro under REST_GYR, and within REST_DRIFT of its mean since the rest began (a bias
# holds still, a slow turn drifts; 0.15 °/s is over 5x that low-pass's noise from the noisiest gyro we draw).
# (REST_S and REST_SD, what the member's bias update reads, are in ``neuroedge.imu.member``.)
REST_GYR, REST_ACC, REST_LP_S, REST_DRIFT = math.radians(2.0), 0.5, 0.5, math.radians(0.15)


# A start in motion gets a loose tilt prior, a still one the accelerometer's (why: docs/imu_core.md, "The start").
STILL_ACC = 0.3  # m/s²
STILL_TILT_SD = 0.01  # rad (0.57°)
MOVING_TILT_SD = math.radians(20.0)


@njit(cache=True)
def core_init(cs: np.ndarray, acc0: np.ndarray, cp: np.ndarray) -> None:
    """Level on the first accel reading (zero yaw), bias unknown (datasheet spread); the tilt's prior as the
    first sample's |f| looks: gravity alone (tight) or more (loose)."""
    n = cs.shape[0]
    an = math.sqrt(acc0[0] ** 2 + acc0[1] ** 2 + acc0[2] ** 2)
    still = abs(an - GRAVITY) < STILL_ACC
    tv = STILL_TILT_SD ** 2 if still else MOVING_TILT_SD ** 2
    ax, ay, az = acc0[0] / an, acc0[1] / an, acc0[2] / an
    # shortest rotation taking the measured up (ax, ay, az) to world up: axis a × e_z = (ay, -ax, 0)
    s = math.sqrt(ay * ay + ax * ax)
    ang = math.atan2(s, az)
    q = np.array([1.0, 0.0, 0.0, 0.0]) if s < 1e-12 else _exp(ay / s * ang, -ax / s * ang, 0.0)
    if s < 1e-12 and az < 0:
        q = np.array([0.0, 1.0, 0.0, 0.0])
    var = np.array([tv, tv, 1e-2, cp[5] ** 2, cp[5] ** 2, cp[5] ** 2, 1e-2, 1e-2, 0.0, 0.0])
    for h in range(n):
        cs[h, :] = 0.0
        cs[h, 0:4] = q
        for k in range(N_ERR):
            cs[h, P0 + k * N_ERR + k] = var[k]
    cs[0, RS + 3:RS + 6] = acc0  # the rest detector's low-passed accelerometer (its gyro's starts at 0)




@njit(cache=True)
def core_step(cs: np.ndarray, acc: np.ndarray, gyr: np.ndarray, sigma_a: float, dt: float, cp: np.ndarray,
              q_out: np.ndarray) -> None:
    """Every hypothesis one step, then the gated attitude into ``q_out``."""
    n = cs.shape[0]
    sigma_a = cp[7] if cp[7] >= 0.0 else max(sigma_a - NET_FLOOR_OFF, SIGMA_A_MIN)
    # A floor from physics under the network's σ_a: |f| - g is the linear acceleration along gravity, so its
    # RMS over a short window is the per-axis RMS of an isotropic linear acceleration. It holds where the
    # network, trained on our families' range of shaking, reads a harder shake low. Its running mean
    # square lives in the loosest row's spare slot (the gate's z̄ slot, unused there).
    if cp[9] > 0.0:
        dev = math.sqrt(acc[0] ** 2 + acc[1] ** 2 + acc[2] ** 2) - GRAVITY
        lam_f = math.exp(-dt / cp[10])
        cs[n - 1, 111] = lam_f * cs[n - 1, 111] + (1.0 - lam_f) * dev * dev
        sigma_a = max(sigma_a, cp[9] * math.sqrt(cs[n - 1, 111]))
    gyro_noise = cp[3]
    if cp[11] > 0.0:
        g = cs[0]
        if g[GN + 7] >= 2.0:
            d2 = 0.0
            for a in range(3):
                d = gyr[a] - 2.0 * g[GN + a] + g[GN + 3 + a]
                d2 += d * d
            lam_g = math.exp(-dt / cp[11])
            g[GN + 6] = lam_g * g[GN + 6] + (1.0 - lam_g) * d2 / 18.0  # per axis and sample: σ² = var(Δ²ω)/6
            gyro_noise = max(cp[3], math.sqrt(g[GN + 6] * dt))
        g[GN + 7] += 1.0
        for a in range(3):
            g[GN + 3 + a] = g[GN + a]
            g[GN + a] = gyr[a]
    cap = _velocity_cap(cs[n - 1], acc, dt, cp)
    rest = _at_rest(cs[0], acc, gyr, dt)
    svs = np.empty(n)
    for h in range(n):
        o = CP_HEAD + PER_HYP * h
        if h == n - 1 or cap == np.inf:
            svs[h] = cp[o] * sigma_a + cp[o + 2]
        else:
            svs[h] = max(min(cp[o] * sigma_a, cap) + min(cp[o + 2], cp[15] * cap), SV_MIN)
        hyp_step(cs[h], acc, gyr, svs[h], cp[o + 1], dt, cp, gyro_noise, rest)
    q_out[:] = cs[n - 1, 0:4]
    lam = math.exp(-dt / cp[1])
    for h in range(n - 2, -1, -1):  # from the loosest: each member gives way to the next by its own z̄
        o = CP_HEAD + PER_HYP * h
        z = (cs[h, 9] ** 2 + cs[h, 10] ** 2) / (2.0 * svs[h] * svs[h])
        cs[h, 111] = lam * cs[h, 111] + (1.0 - lam) * z
        zbar = cs[h, 111]
        w = 0.0 if zbar <= 0.0 else 1.0 / (1.0 + (cp[o + 3] / zbar) ** GATE_POWER)
        sgn = 1.0 if q_out @ cs[h, 0:4] >= 0 else -1.0
        for k in range(4):
            q_out[k] = (1.0 - w) * cs[h, k] + w * sgn * q_out[k]
        q_out /= math.sqrt(q_out[0] ** 2 + q_out[1] ** 2 + q_out[2] ** 2 + q_out[3] ** 2)


@njit(cache=True)
def _at_rest(st: np.ndarray, acc: np.ndarray, gyr: np.ndarray, dt: float) -> bool:
    """At rest for ``REST_S`` yet (row 0's ``RS`` slots: low-passed gyro, accelerometer, time within bounds, the
    low-passed gyro's mean over that time, which it may not leave by more than ``REST_DRIFT``)?"""
    lam = 1.0 - math.exp(-dt / REST_LP_S)
    dg = da = 0.0
    for a in range(3):
        st[RS + a] += lam * (gyr[a] - st[RS + a])
        st[RS + 3 + a] += lam * (acc[a] - st[RS + 3 + a])
        dg += (gyr[a] - st[RS + a]) ** 2
        da += (acc[a] - st[RS + 3 + a]) ** 2
    slow = st[RS] ** 2 + st[RS + 1] ** 2 + st[RS + 2] ** 2 < REST_GYR ** 2
    if not (dg < REST_GYR ** 2 and da < REST_ACC ** 2 and slow):
        st[RS + 6] = 0.0
        return False
    drift = (st[RS] - st[RS + 7]) ** 2 + (st[RS + 1] - st[RS + 8]) ** 2 + (st[RS + 2] - st[RS + 9]) ** 2
    if drift > REST_DRIFT ** 2:  # a rest (again) from here
        st[RS + 6] = 0.0
    w = 1.0 if st[RS + 6] == 0.0 else dt / (st[RS + 6] + dt)
    for a in range(3):  # the low-passed gyro's mean since this rest began
        st[RS + 7 + a] += w * (st[RS + a] - st[RS + 7 + a])
    st[RS + 6] += dt
    return st[RS + 6] >= REST_S


@njit(cache=True)
def _velocity_cap(st: np.ndarray, acc: np.ndarray, dt: float, cp: np.ndarray) -> float:
    """``k · RMS(w)`` after this sample (module doc), updated in the loosest row ``st``; infinite when off."""
    if cp[12] <= 0.0:
        return np.inf
    dev = math.sqrt(acc[0] ** 2 + acc[1] ** 2 + acc[2] ** 2) - GRAVITY
    if st[VC + 3] == 0.0:  # from the first sample's |f| - g: a scale error is no motion from the start
        st[VC] = dev
    st[VC] += (1.0 - math.exp(-dt / VCAP_MEAN_S)) * (dev - st[VC])
    st[VC + 1] = st[VC + 1] * (1.0 - dt / cp[13]) + (dev - st[VC]) * dt
    lam = math.exp(-dt / cp[14])
    st[VC + 2] = max(lam * st[VC + 2] + (1.0 - lam) * st[VC + 1] ** 2, st[VC + 1] ** 2)
    st[VC + 3] += dt
    return cp[12] * math.sqrt(st[VC + 2]) if st[VC + 3] > cp[14] else np.inf


@njit(cache=True)
def core_scan(acc: np.ndarray, gyr: np.ndarray, sigma_a: np.ndarray, rate: float, cp: np.ndarray) -> np.ndarray:
    """The bank over a whole recording ``[N, 3]`` with a given ``σ_a [N]``: quaternions ``[N, 4]``."""
    n_hyp = int(cp[0])
    cs = np.zeros((n_hyp, STRIDE))
    core_init(cs, acc[0], cp)
    out = np.empty((acc.shape[0], 4))
    dt = 1.0 / rate
    for k in range(acc.shape[0]):
        core_step(cs, acc[k], gyr[k], sigma_a[k], dt, cp, out[k])
    return out


# The whole model's per-sample loop (``neuroedge.imu.fast`` wraps it) sits here, beside ``core_step``, because
# numba's disk cache misses a change in another file: in ``fast.py`` it kept a stale ``core_step``.


@njit(cache=True)
def _step(wv: np.ndarray, dims: np.ndarray, cp: np.ndarray, h: np.ndarray, buf: np.ndarray, cs: np.ndarray,
          acc: np.ndarray, gyr: np.ndarray, rate: float, q_out: np.ndarray) -> float:
    """Network (skipped when ``cp`` fixes ``σ_a``) then the core; returns ``log σ_a``."""
    log_sa = math.log(cp[7]) if cp[7] > 0.0 else net_step(wv, dims, h, buf, acc, gyr, rate)
    core_step(cs, acc, gyr, math.exp(log_sa), 1.0 / rate, cp, q_out)
    return log_sa


@njit(cache=True)
def _init(wv: np.ndarray, dims: np.ndarray, cp: np.ndarray, h: np.ndarray, buf: np.ndarray, cs: np.ndarray,
          acc0: np.ndarray) -> None:
    h[:] = 0.0
    buf[:, :] = 0.0
    for a in range(3):
        buf[a, :] = acc0[a] / GRAVITY
    core_init(cs, acc0, cp)


@njit(cache=True)
def _scan(wv: np.ndarray, dims: np.ndarray, cp: np.ndarray, acc: np.ndarray, gyr: np.ndarray,
          rate: float) -> tuple[np.ndarray, np.ndarray]:
    h = np.zeros(dims[0])
    buf = np.zeros((6, dims[1]))
    cs = np.zeros((int(cp[0]), STRIDE))
    _init(wv, dims, cp, h, buf, cs, acc[0])
    q = np.empty((acc.shape[0], 4))
    log_sa = np.empty(acc.shape[0])
    for k in range(acc.shape[0]):
        log_sa[k] = _step(wv, dims, cp, h, buf, cs, acc[k], gyr[k], rate, q[k])
    return q, log_sa


# Last: numba caches this file's loops with the member filter and the network step compiled in, and would not see
# a change to their files alone (``neuroedge.imu.numba_stamp``).
numba_stamp.refresh(globals(), ("member.py", "net_step.py"))
