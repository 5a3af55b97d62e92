"""The exact half of the attitude model: a bank of error-state Kalman filters, compiled with numba.

Each member is an error-state Kalman filter on tilt, gyro bias and the horizontal velocity the
accelerometer implies, that velocity an Ornstein-Uhlenbeck process whose noise ``σ_v = c · σ_a + floor``
follows the network; a consistency gate on each member's velocity estimate blends them; a velocity cap,
an accel floor and the gyro's measured noise put physics under the network's figure. The design and the
evidence for each part: ``docs/imu_core.md``.

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

from neuroedge.imu.core_settings import core_params  # noqa: F401 - its home until now; imported from here

N_ERR = 10
STRIDE = 134
RS = 124  # row 0: the rest detector's state (module doc)
VC = 120  # the loosest row: the velocity cap's state (module doc)
VCAP_MEAN_S = 4.0
SV_MIN = 1e-4  # m/s: a capped σ_v never reaches 0 (the gate divides by it)
GN = 112  # row 0: the gyro-noise estimate's state (module doc)
P0 = 11  # offset of P in a hypothesis' state
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
REST_S, REST_GYR, REST_ACC, REST_LP_S, REST_DRIFT = 1.5, math.radians(2.0), 0.5, 0.5, math.radians(0.15)
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
def _hyp_step(st: np.ndarray, acc: np.ndarray, gyr: np.ndarray, sigma_v: float, tau: float, dt: float,
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
        _hyp_step(cs[h], acc, gyr, svs[h], cp[o + 1], dt, cp, gyro_noise, rest)
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


# The network step and the whole model's per-sample loop (``neuroedge.imu.fast`` wraps them) sit here because
# numba's disk cache misses a change in another file: in ``fast.py`` they kept a stale ``core_step``.
@njit(cache=True)
def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True)
def _net_step(wv: np.ndarray, dims: np.ndarray, h: np.ndarray, buf: np.ndarray, acc: np.ndarray,
              gyr: np.ndarray, rate: float) -> float:
    """One network step in place on ``h [H]``, ``buf [6, K]``; returns ``log σ_a``."""
    hid, ker, ch, dh = dims[0], dims[1], dims[2], dims[3]
    nc = 6 * ch
    nin = nc + 12
    o = 0
    conv_w = wv[o:o + nc * ker].reshape((nc, ker))
    o += nc * ker
    conv_b = wv[o:o + nc]
    o += nc
    w_ih = wv[o:o + 3 * hid * nin].reshape((3 * hid, nin))
    o += 3 * hid * nin
    w_hh = wv[o:o + 3 * hid * hid].reshape((3 * hid, hid))
    o += 3 * hid * hid
    b_ih = wv[o:o + 3 * hid]
    o += 3 * hid
    b_hh = wv[o:o + 3 * hid]
    o += 3 * hid
    w1 = wv[o:o + dh * hid].reshape((dh, hid))
    o += dh * hid
    b1 = wv[o:o + dh]
    o += dh
    w2 = wv[o:o + dh]
    o += dh
    b2 = wv[o]
    scale = wv[o + 1:o + 7]
    ap0, ap1, ap2 = buf[0, ker - 1] * GRAVITY, buf[1, ker - 1] * GRAVITY, buf[2, ker - 1] * GRAVITY
    for a in range(6):
        for k in range(ker - 1):
            buf[a, k] = buf[a, k + 1]
    for a in range(3):
        buf[a, ker - 1] = acc[a] * scale[a]
        buf[3 + a, ker - 1] = gyr[a] * scale[3 + a]
    x = np.empty(nin)
    for a in range(6):
        for j in range(ch):
            m = a * ch + j
            s = conv_b[m]
            for k in range(ker):
                s += conv_w[m, k] * buf[a, k]
            x[m] = s if s > 0.0 else 0.0
    an = math.sqrt(acc[0] ** 2 + acc[1] ** 2 + acc[2] ** 2)
    r0 = (acc[0] - ap0) * rate + gyr[1] * acc[2] - gyr[2] * acc[1]
    r1 = (acc[1] - ap1) * rate + gyr[2] * acc[0] - gyr[0] * acc[2]
    r2 = (acc[2] - ap2) * rate + gyr[0] * acc[1] - gyr[1] * acc[0]
    rn = math.sqrt(r0 * r0 + r1 * r1 + r2 * r2)
    x[nc], x[nc + 1], x[nc + 2] = acc[0] / an, acc[1] / an, acc[2] / an
    x[nc + 3] = an / GRAVITY - 1.0
    x[nc + 4] = math.log(rate / 200.0)
    x[nc + 5], x[nc + 6], x[nc + 7] = r0 / (rn + 10.0), r1 / (rn + 10.0), r2 / (rn + 10.0)
    x[nc + 8] = math.log1p(rn / 10.0)
    x[nc + 9], x[nc + 10], x[nc + 11] = gyr[0], gyr[1], gyr[2]
    gi = np.empty(3 * hid)
    gh = np.empty(3 * hid)
    for m in range(3 * hid):
        s = b_ih[m]
        for k in range(nin):
            s += w_ih[m, k] * x[k]
        gi[m] = s
        s = b_hh[m]
        for k in range(hid):
            s += w_hh[m, k] * h[k]
        gh[m] = s
    for m in range(hid):
        r = _sigmoid(gi[m] + gh[m])
        z = _sigmoid(gi[hid + m] + gh[hid + m])
        n = math.tanh(gi[2 * hid + m] + r * gh[2 * hid + m])
        h[m] = (1.0 - z) * n + z * h[m]
    out = b2
    for j in range(dh):
        s = b1[j]
        for k in range(hid):
            s += w1[j, k] * h[k]
        if s > 0.0:
            out += w2[j] * s
    return out


@njit(cache=True)
def _step(wv: np.ndarray, dims: np.ndarray, cp: np.ndarray, h: np.ndarray, buf: np.ndarray, cs: np.ndarray,
          acc: np.ndarray, gyr: np.ndarray, rate: float, q_out: np.ndarray) -> float:
    """Network (skipped when ``cp`` fixes ``σ_a``) then the core; returns ``log σ_a``."""
    log_sa = math.log(cp[7]) if cp[7] > 0.0 else _net_step(wv, dims, h, buf, acc, gyr, rate)
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


@njit(cache=True)
def _net_scan(wv: np.ndarray, dims: np.ndarray, acc: np.ndarray, gyr: np.ndarray, rate: float) -> np.ndarray:
    h = np.zeros(dims[0])
    buf = np.zeros((6, dims[1]))
    for a in range(3):
        buf[a, :] = acc[0, a] / GRAVITY
    out = np.empty(acc.shape[0])
    for k in range(acc.shape[0]):
        out[k] = _net_step(wv, dims, h, buf, acc[k], gyr[k], rate)
    return out
