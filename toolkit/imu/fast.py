"""The whole attitude model compiled (numba): one step per call, or a whole recording in one call.

``AttitudeModel`` holds the network's weights (``DisturbanceNet.to_arrays()``, flat) and the core's
parameters (``neuroedge.imu.core``). It needs numpy and numba only (no torch), so the shipped model
(``weights/attitude.npz``) loads and runs anywhere the package installs.

* ``step(acc, gyr)``: one sample, state carried in the object (the streaming path);
* ``run(acc, gyr, rate)``: a whole recording in one compiled loop, the same functions per sample as
  ``step``, so the two agree to the last bit (a test checks it).

The network in ``_net_step`` is ``DisturbanceNet.forward`` written out (a test checks it against torch).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from neuroedge.imu.core import STRIDE, core_init, core_step

GRAVITY = 9.81
ORDER = ("conv_w", "conv_b", "w_ih", "w_hh", "b_ih", "b_hh", "w1", "b1", "w2", "b2", "scale")
SHIPPED = Path(__file__).resolve().parent / "weights" / "attitude.npz"


def pack(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(flat weights, dims [H, K, C, D])`` from ``DisturbanceNet.to_arrays()``."""
    hidden, kernel = arrays["w_hh"].shape[1], arrays["conv_w"].shape[1]
    channels, head = arrays["conv_w"].shape[0] // 6, arrays["w1"].shape[0]
    flat = np.concatenate([np.asarray(arrays[k], dtype=np.float64).ravel() for k in ORDER])
    return flat, np.array([hidden, kernel, channels, head], dtype=np.int64)


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


@dataclass
class AttitudeModel:
    """The network's flat weights, their dims, the core's parameters, and what they were chosen on."""

    weights: np.ndarray
    dims: np.ndarray
    core: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], core: np.ndarray, info: dict | None = None) -> AttitudeModel:
        wv, dims = pack(arrays)
        return cls(wv, dims, np.asarray(core, dtype=np.float64), dict(info or {}))

    def with_core(self, core: np.ndarray) -> AttitudeModel:
        return AttitudeModel(self.weights, self.dims, np.asarray(core, dtype=np.float64), self.info)

    def run(self, acc: np.ndarray, gyr: np.ndarray, rate: float) -> np.ndarray:
        """Quaternions ``[N, 4]`` (w, x, y, z; body -> world, z up) for a whole recording, one compiled call."""
        acc = np.ascontiguousarray(acc, dtype=np.float64)
        gyr = np.ascontiguousarray(gyr, dtype=np.float64)
        return _scan(self.weights, self.dims, self.core, acc, gyr, float(rate))[0]

    def log_sigma_a(self, acc: np.ndarray, gyr: np.ndarray, rate: float) -> np.ndarray:
        """The network alone over a recording: ``log σ_a [N]``."""
        return _net_scan(self.weights, self.dims, np.ascontiguousarray(acc, dtype=np.float64),
                         np.ascontiguousarray(gyr, dtype=np.float64), float(rate))

    def stream(self, first_acc: np.ndarray, rate: float) -> Stream:
        return Stream(self, np.asarray(first_acc, dtype=np.float64), float(rate))

    def save(self, path: str | Path) -> Path:
        """Write ``.npz`` (weights, dims, core, info as JSON) atomically."""
        import io

        from neuroedge.bundle import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(buf, weights=self.weights, dims=self.dims, core=self.core,
                 info=np.frombuffer(json.dumps(self.info, default=str).encode(), dtype=np.uint8))
        atomic_write_bytes(Path(path), buf.getvalue())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path = SHIPPED) -> AttitudeModel:
        """Read a saved model (``SHIPPED`` by default: the one in the package)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such model file")
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(bytes(z["info"]).decode())
            return cls(z["weights"].astype(np.float64), z["dims"].astype(np.int64), z["core"].astype(np.float64), info)


class Stream:
    """One sample per ``step`` call, the state carried here (what a device would run)."""

    def __init__(self, model: AttitudeModel, first_acc: np.ndarray, rate: float) -> None:
        self.model, self.rate = model, rate
        self.h = np.zeros(int(model.dims[0]))
        self.buf = np.zeros((6, int(model.dims[1])))
        self.cs = np.zeros((int(model.core[0]), STRIDE))
        self.q = np.zeros(4)
        _init(model.weights, model.dims, model.core, self.h, self.buf, self.cs, first_acc)

    def step(self, acc: np.ndarray, gyr: np.ndarray) -> np.ndarray:
        """The attitude after this sample (a view, overwritten by the next call)."""
        m = self.model
        _step(m.weights, m.dims, m.core, self.h, self.buf, self.cs, acc, gyr, self.rate, self.q)
        return self.q
