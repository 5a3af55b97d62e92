"""The whole attitude model compiled (numba): one step per call, or a whole recording in one call.

``AttitudeModel`` holds the network's weights (``DisturbanceNet.to_arrays()``, flat) and the core's
parameters (``neuroedge.imu.core``). It needs numpy and numba only (no torch), so the shipped model
(``weights/attitude.npz``) loads and runs anywhere the package installs.

* ``step(acc, gyr)``: one sample, state carried in the object (the streaming path);
* ``run(acc, gyr, rate)``: a whole recording in one compiled loop, the same functions per sample as
  ``step``, so the two agree to the last bit (a test checks it).

The network step (``neuroedge.imu.net_step``) is ``DisturbanceNet.forward`` written out (a test checks
it against torch). The per-sample loop lives in ``core.py`` beside the Kalman core, not here: numba's
on-disk cache (``cache=True``) does not notice a change to a compiled function in another file, so a loop
compiled here kept calling a stale core after ``core.py`` changed (the likely reason the benchmark of
e2c7cd4 reported model figures that the same weights, core and test data do not give when compiled fresh).
``core.py``'s own callees in other files (the member filter, the network step) are covered by
``neuroedge.imu.numba_stamp``, which recompiles the loop when they change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuroedge.imu.core import CP_HEAD, PER_HYP, STRIDE, _init, _scan, _step
from neuroedge.imu.net_step import net_scan

ORDER = ("conv_w", "conv_b", "w_ih", "w_hh", "b_ih", "b_hh", "w1", "b1", "w2", "b2", "scale")
SHIPPED = Path(__file__).resolve().parent / "weights" / "attitude.npz"


def pack(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(flat weights, dims [H, K, C, D])`` from ``DisturbanceNet.to_arrays()``."""
    hidden, kernel = arrays["w_hh"].shape[1], arrays["conv_w"].shape[1]
    channels, head = arrays["conv_w"].shape[0] // 6, arrays["w1"].shape[0]
    flat = np.concatenate([np.asarray(arrays[k], dtype=np.float64).ravel() for k in ORDER])
    return flat, np.array([hidden, kernel, channels, head], dtype=np.int64)


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
        return net_scan(self.weights, self.dims, np.ascontiguousarray(acc, dtype=np.float64),
                         np.ascontiguousarray(gyr, dtype=np.float64), float(rate))

    def stream(self, first_acc: np.ndarray, rate: float) -> Stream:
        """A per-sample stream, set up on the first accelerometer sample (levelled on it; see ``core_init``)."""
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
            model = cls(z["weights"].astype(np.float64), z["dims"].astype(np.int64), z["core"].astype(np.float64), info)
        n_hyp = int(model.core[0]) if model.core.size else 0
        if model.core.size != CP_HEAD + PER_HYP * n_hyp:  # another layout would be read as wrong settings
            raise ValueError(f"{path}: core parameters of length {model.core.size}, expected "
                             f"{CP_HEAD + PER_HYP * n_hyp} for {n_hyp} hypotheses: saved by another version of "
                             "neuroedge.imu; retrain it (python -m neuroedge.imu.train) or use the shipped model")
        return model


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
