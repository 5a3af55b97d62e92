"""Synthetic 6DoF IMU sequences with ground truth, and a loader for real recordings in CSV.

Why our own generator: ``ahrs.utils.sensors.Sensors`` has no linear acceleration and mis-scales the
gyro bias (see DEPENDENCY-FACTS), and clean data makes every classical filter look perfect.

Model of one sequence, sampled at ``rate_hz`` (frame: body -> world, world z up, see neuroedge.quaternion):

* attitude ``q(t) = R_z(ψ) R_y(θ) R_x(φ)``; roll φ and pitch θ are sums of random sinusoids
  (0.03-0.4 Hz) bounded by ``max_tilt_deg``, yaw ψ wanders freely;
* gyro ``ω_k = log(q_{k-1}* ⊗ q_k) / dt + b_k + n_k``: exactly the rate that carries ``q_{k-1}`` to
  ``q_k``, plus a bias ``b`` (random constant per sequence + random walk) and white noise ``n``;
* accelerometer ``f_k = R(q_k)^T (a_lin,k + g e_z) + m_k``: specific force, so at rest it reads +g on
  the up axis; ``m`` is white noise. The linear acceleration ``a_lin`` (``disturbance_model``):

  - ``"bounded_velocity"`` (default): ``a_lin = d/dt (s(t) v(t))`` where ``v`` is white noise through
    three first-order low-passes (time constant ``disturbance_tau_s``) and ``s`` a slowly varying burst
    envelope. The device's velocity ``s v`` is a bounded, stationary process, as for a device moved
    around in place (a hand, a robot arm, a vehicle in traffic), so ``a_lin`` has no power at DC: its
    spectrum is ``ω² S_v(ω)``. Physically: ``∫ a_lin dt`` stays bounded.
  - ``"lowpass"`` (the first version, kept for comparison): ``a_lin = s(t) · LP²(white noise)``. Its
    spectrum is flat at low frequency, so its integral, the velocity, is a random walk: over 60 s at
    2 m/s² RMS the device drifts to ~15 m/s, which no hand-held IMU does. It hurts filters that average
    the accelerometer over seconds (VQF's ``tauAcc``, small Madgwick gains) more than real motion would.

  Either way ``a_lin`` is scaled to RMS ``disturbance_std`` per axis; it is zero for the first second and
  ramped in over the next two, so the first sample can initialise tilt as after power-up.

Noise figures are densities (per √Hz) so that changing the rate keeps the same sensor.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from neuroedge.imu import quaternion as quat

GRAVITY = 9.81
DISTURBANCE_MODELS = ("bounded_velocity", "lowpass")
CSV_COLUMNS = ("t", "ax", "ay", "az", "gx", "gy", "gz", "qw", "qx", "qy", "qz")


class ImuDataError(ValueError):
    """A recording that cannot be used; the message names the file, row and column."""


@dataclass(frozen=True)
class ImuConfig:
    """One synthetic sensor + motion setting. Angles in degrees, noise as densities."""

    rate_hz: float = 200.0
    duration_s: float = 60.0
    max_tilt_deg: float = 60.0
    gyro_noise_dps_rthz: float = 0.01  # white noise density, °/s/√Hz (0.14 °/s RMS at 200 Hz)
    gyro_bias_dps: float = 0.4  # std of the per-sequence constant bias, per axis
    gyro_bias_walk_dps_rts: float = 0.01  # bias random walk, °/s per √s
    accel_noise_rthz: float = 0.002  # m/s²/√Hz (0.028 m/s² RMS at 200 Hz)
    disturbance_std: float = 2.0  # RMS of the linear acceleration, m/s² per axis
    disturbance_tau_s: float = 0.3  # low-pass time constant of the linear acceleration
    burst_tau_s: float = 4.0  # time constant of the envelope; 0 turns bursts off (stationary)
    disturbance_model: str = "bounded_velocity"  # or "lowpass" (velocity random-walks; see module doc)

    def __post_init__(self) -> None:
        if not 1.0 <= self.rate_hz <= 10_000.0:
            raise ValueError(f"rate_hz {self.rate_hz} out of range [1, 10000]")
        if self.duration_s <= 0:
            raise ValueError("duration_s must be > 0")
        if self.disturbance_model not in DISTURBANCE_MODELS:
            raise ValueError(f"disturbance_model {self.disturbance_model!r} is not one of {DISTURBANCE_MODELS}")


@dataclass
class ImuSequence:
    """Samples ``[N]``/``[N, 3]``/``[N, 4]``: time (s), accel (m/s²), gyro (rad/s), true attitude (w,x,y,z)."""

    t: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray
    q: np.ndarray
    rate_hz: float
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def slice(self, start: int, stop: int) -> ImuSequence:
        return ImuSequence(self.t[start:stop], self.acc[start:stop], self.gyr[start:stop], self.q[start:stop],
                           self.rate_hz, dict(self.meta))


def _lowpass_noise(rng: np.random.Generator, n: int, dims: int, dt: float, tau: float,
                   stages: int = 2) -> np.ndarray:
    """Unit-variance coloured noise: white noise through ``stages`` first-order low-passes ``α = e^(-dt/τ)``."""
    from scipy.signal import lfilter

    alpha = math.exp(-dt / tau)
    burn = int(math.ceil(8 * tau / dt))  # run-in discarded, so the sequence starts in steady state
    x = rng.standard_normal((n + burn, dims))
    for _ in range(stages):  # y_k = α y_(k-1) + (1-α) x_k
        x = lfilter([1.0 - alpha], [1.0, -alpha], x, axis=0)
    x = x[burn:]
    x = x - x.mean(axis=0)
    return x / np.maximum(x.std(axis=0), 1e-12)


def _angle_path(rng: np.random.Generator, t: np.ndarray, amplitude: float, n_terms: int = 4) -> np.ndarray:
    freqs = rng.uniform(0.03, 0.4, n_terms)
    phases = rng.uniform(0, 2 * np.pi, n_terms)
    weights = rng.dirichlet(np.ones(n_terms))
    return amplitude * np.sum(weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None]), axis=0)


def _euler_zyx(roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    z = np.zeros_like(roll)
    qx = np.stack([np.cos(roll / 2), np.sin(roll / 2), z, z], axis=-1)
    qy = np.stack([np.cos(pitch / 2), z, np.sin(pitch / 2), z], axis=-1)
    qz = np.stack([np.cos(yaw / 2), z, z, np.sin(yaw / 2)], axis=-1)
    return quat.multiply(quat.multiply(qz, qy), qx)


def generate(seed: int, config: ImuConfig = ImuConfig()) -> ImuSequence:  # noqa: B008 - frozen
    """One synthetic sequence; the same seed and config always give the same arrays."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / config.rate_hz
    n = int(round(config.duration_s * config.rate_hz))
    t = np.arange(n) * dt
    tilt = math.radians(config.max_tilt_deg) * rng.uniform(0.3, 1.0)
    roll = _angle_path(rng, t, tilt)
    pitch = _angle_path(rng, t, tilt * 0.8)
    yaw = _angle_path(rng, t, math.radians(120)) + rng.uniform(-0.2, 0.2) * t
    q = _euler_zyx(roll, pitch, yaw)

    # The gyro reads the exact constant rate between consecutive ground-truth samples.
    rel = quat.multiply(quat.conj(q[:-1]), q[1:])
    omega = np.empty((n, 3))
    omega[1:] = quat.log_rotvec(rel) / dt
    omega[0] = omega[1]
    bias0 = np.radians(config.gyro_bias_dps) * rng.standard_normal(3)
    walk = np.radians(config.gyro_bias_walk_dps_rts) * math.sqrt(dt) * np.cumsum(rng.standard_normal((n, 3)), 0)
    bias = bias0 + walk
    gyro_noise = np.radians(config.gyro_noise_dps_rthz) * math.sqrt(config.rate_hz) * rng.standard_normal((n, 3))
    gyr = omega + bias + gyro_noise

    bounded = config.disturbance_model == "bounded_velocity"
    # bounded_velocity: this is the velocity (one more low-pass so its derivative is still smooth).
    lin = _lowpass_noise(rng, n, 3, dt, config.disturbance_tau_s, stages=3 if bounded else 2)
    if config.burst_tau_s > 0:
        env = np.logaddexp(0.0, 1.5 * _lowpass_noise(rng, n, 1, dt, config.burst_tau_s))  # softplus, > 0
        lin = lin * env
    # The device starts at rest for 1 s then movement ramps in over 2 s, as after power-up: every method
    # initialises its tilt from the first accel sample, and that must not be a disturbed one.
    lin *= np.clip((t - 1.0) / 2.0, 0.0, 1.0)[:, None]
    if bounded:
        lin = np.gradient(lin, dt, axis=0)  # acceleration = d(velocity)/dt, so its integral stays bounded
    lin *= config.disturbance_std / math.sqrt(float(np.mean(lin**2)))  # RMS per axis = disturbance_std
    up = np.array([0.0, 0.0, GRAVITY])
    acc = quat.rotate(quat.conj(q), lin + up)
    acc += config.accel_noise_rthz * math.sqrt(config.rate_hz) * rng.standard_normal((n, 3))
    meta = {"seed": seed, "gyro_bias": bias, "linear_acc_world": lin, "config": config}
    return ImuSequence(t, acc, gyr, q, config.rate_hz, meta)


# Seeds are split by range so a test sequence can never be a training sequence.
SPLIT_SEED_BASE = {"train": 0, "val": 100_000, "test": 200_000}


def generate_split(split: str, count: int, config: ImuConfig = ImuConfig(),  # noqa: B008 - frozen
                   rates_hz: tuple[float, float] | None = None) -> list[ImuSequence]:
    """``count`` sequences of a split; with ``rates_hz`` each draws its rate uniformly from that range."""
    if split not in SPLIT_SEED_BASE:
        raise ValueError(f"split {split!r} is not one of {sorted(SPLIT_SEED_BASE)}")
    out = []
    for i in range(count):
        seed = SPLIT_SEED_BASE[split] + i
        cfg = config
        if rates_hz is not None:
            rate = float(np.random.default_rng(seed + 7_777_777).uniform(*rates_hz))
            cfg = replace(config, rate_hz=round(rate, 1))
        out.append(generate(seed, cfg))
    return out


# ---- CSV ---------------------------------------------------------------------------------------

def save_csv(seq: ImuSequence, path: str | Path) -> Path:
    """Write ``t,ax,ay,az,gx,gy,gz,qw,qx,qy,qz`` (s, m/s², rad/s) with a header row."""
    path = Path(path)
    data = np.column_stack([seq.t, seq.acc, seq.gyr, seq.q])
    with open(path, "w", newline="") as f:
        f.write(",".join(CSV_COLUMNS) + "\n")
        np.savetxt(f, data, delimiter=",", fmt="%.9g")
    return path


def load_csv(path: str | Path) -> ImuSequence:
    """Read a recording: a header naming at least ``t,ax,ay,az,gx,gy,gz,qw,qx,qy,qz`` (any order).

    Units: t in s, accel in m/s², gyro in rad/s, quaternion w,x,y,z (body -> world). Every problem is an
    ``ImuDataError`` naming the file, the line and the column: a missing column, a value that is not a
    finite number, a time that does not increase, a zero quaternion.
    """
    path = Path(path)
    if not path.is_file():
        raise ImuDataError(f"{path}: no such file")
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise ImuDataError(f"{path}: empty file; expected a header {','.join(CSV_COLUMNS)}") from None
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise ImuDataError(f"{path}: line 1 (header): missing column(s) {', '.join(missing)}; "
                               f"expected {','.join(CSV_COLUMNS)}")
        index = [header.index(c) for c in CSV_COLUMNS]
        rows = []
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            values = []
            for col, i in zip(CSV_COLUMNS, index, strict=True):
                cell = row[i].strip() if i < len(row) else ""
                try:
                    v = float(cell)
                except ValueError:
                    raise ImuDataError(f"{path}: line {line_no}, column {col!r}: {cell!r} is not a number") from None
                if not math.isfinite(v):
                    raise ImuDataError(f"{path}: line {line_no}, column {col!r}: {cell} is not finite")
                values.append(v)
            if rows and values[0] <= rows[-1][0]:
                raise ImuDataError(f"{path}: line {line_no}, column 't': time {values[0]!r} does not increase "
                                   f"(previous {rows[-1][0]!r}); sort the file or drop duplicates")
            if math.fsum(x * x for x in values[7:]) < 1e-12:
                raise ImuDataError(f"{path}: line {line_no}, columns qw..qz: zero quaternion")
            rows.append(values)
    if len(rows) < 2:
        raise ImuDataError(f"{path}: needs at least 2 data rows, has {len(rows)}")
    data = np.asarray(rows, dtype=np.float64)
    t = data[:, 0]
    rate = 1.0 / float(np.median(np.diff(t)))
    return ImuSequence(t, data[:, 1:4], data[:, 4:7], quat.normalize(data[:, 7:11]), rate, {"source": str(path)})
