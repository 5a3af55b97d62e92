"""The disturbance network's step written out for numba: ``neuroedge.imu.network.DisturbanceNet.forward``
one sample at a time (a test checks the two agree), and the network alone over a recording.

``neuroedge.imu.core`` compiles ``net_step`` into its cached per-sample loop, and ``neuroedge.imu.numba_stamp``
recompiles that loop when this file changes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

GRAVITY = 9.81  # m/s²: the network's input scale, as ``neuroedge.imu.network`` trains it


@njit(cache=True)
def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True)
def net_step(wv: np.ndarray, dims: np.ndarray, h: np.ndarray, buf: np.ndarray, acc: np.ndarray,
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
def net_scan(wv: np.ndarray, dims: np.ndarray, acc: np.ndarray, gyr: np.ndarray, rate: float) -> np.ndarray:
    h = np.zeros(dims[0])
    buf = np.zeros((6, dims[1]))
    for a in range(3):
        buf[a, :] = acc[0, a] / GRAVITY
    out = np.empty(acc.shape[0])
    for k in range(acc.shape[0]):
        out[k] = net_step(wv, dims, h, buf, acc[k], gyr[k], rate)
    return out
