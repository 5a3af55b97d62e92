"""Classical orientation filters on the same sequences as the model, each at default and tuned settings.

Filters: Madgwick, Mahony and EKF from ``ahrs``; VQF (Laidig & Seel 2023) from ``vqf``; x-io's Fusion from
``imufusion``; and the neural peer RIANN (``riann``, not tuned: it has no settings). All take gyro in rad/s and accel in m/s² here; each wrapper converts to what its library wants
(Fusion: °/s and g) and returns quaternions ``[N, 4]`` (w, x, y, z), body -> world, z up.

Tuning is a grid search on a validation split (seeds the test split never uses), minimising mean tilt error
after the warm-up: an untuned baseline flatters the model.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroedge.imu import quaternion as quat
from neuroedge.imu.families import GRAVITY, ImuSequence

WARMUP_S = 5.0  # every method (filters and model) is scored after this, so start-up transients do not count


def _q0(seq: ImuSequence) -> np.ndarray:
    return quat.from_accel(seq.acc[0])


def run_madgwick(seq: ImuSequence, gain: float = 0.033) -> np.ndarray:
    from ahrs.filters import Madgwick

    return Madgwick(gyr=seq.gyr, acc=seq.acc, frequency=seq.rate_hz, gain=gain, q0=_q0(seq)).Q


def run_mahony(seq: ImuSequence, k_P: float = 1.0, k_I: float = 0.3) -> np.ndarray:  # noqa: N803 - ahrs names
    from ahrs.filters import Mahony

    return Mahony(gyr=seq.gyr, acc=seq.acc, frequency=seq.rate_hz, k_P=k_P, k_I=k_I, q0=_q0(seq)).Q


def run_ekf(seq: ImuSequence, var_acc: float = 0.5**2, var_gyr: float = 0.3**2) -> np.ndarray:
    from ahrs.filters import EKF

    # Measured: with our z-up data (+g on up at rest) ahrs' EKF converges only with frame="NED";
    # with "ENU" it locks on upside down (180° tilt error).
    return EKF(gyr=seq.gyr, acc=seq.acc, frequency=seq.rate_hz, frame="NED", q0=_q0(seq),
               noises=[var_gyr, var_acc, 0.8**2]).Q


def run_vqf(seq: ImuSequence, tau_acc: float = 3.0, bias_sigma_init: float = 0.5,
            bias_forgetting_time: float = 100.0, motion_bias: bool = True) -> np.ndarray:
    """VQF in its 6D mode (``quat6D``), gyro in rad/s and accel in m/s² as the library expects.

    Besides ``tauAcc`` the tuning covers the gyro-bias estimator (VQF's own strength): its initial
    uncertainty (°/s) and forgetting time (s), and whether it estimates bias during motion at all.
    Rest-bias estimation stays on (library default); our sequences have no rest after the first seconds.
    """
    from vqf import VQF

    f = VQF(1.0 / seq.rate_hz, tauAcc=tau_acc, biasSigmaInit=bias_sigma_init,
            biasForgettingTime=bias_forgetting_time, motionBiasEstEnabled=bool(motion_bias))
    out = f.updateBatch(np.ascontiguousarray(seq.gyr, dtype=np.float64),
                        np.ascontiguousarray(seq.acc, dtype=np.float64))
    return np.asarray(out["quat6D"])


def run_fusion(seq: ImuSequence, gain: float = 0.5, acceleration_rejection: float = 0.0,
               rejection_timeout_s: float = 0.0) -> np.ndarray:
    import imufusion

    settings = imufusion.AhrsSettings()
    settings.sample_rate = float(seq.rate_hz)
    settings.convention = imufusion.CONVENTION_NWU  # z up, as our frame
    settings.gain = float(gain)
    settings.acceleration_rejection = float(acceleration_rejection)
    settings.rejection_timeout = int(round(rejection_timeout_s * seq.rate_hz))  # Fusion counts samples
    ahrs = imufusion.Ahrs()
    ahrs.set_settings(settings)
    gyr_dps = np.degrees(seq.gyr)
    acc_g = seq.acc / GRAVITY
    out = np.empty((len(seq), 4))
    for k in range(len(seq)):
        ahrs.update_no_magnetometer(gyr_dps[k], acc_g[k])
        out[k] = ahrs.get_quaternion()
    return out


@dataclass(frozen=True)
class Baseline:
    name: str
    run: Callable[..., np.ndarray]
    defaults: dict[str, Any]  # the library's own defaults
    grid: dict[str, Sequence[Any]]  # searched on the validation split


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("madgwick", run_madgwick, {"gain": 0.033},
                 {"gain": [0.001, 0.002, 0.004, 0.007, 0.01, 0.015, 0.02, 0.033, 0.05, 0.1]}),
        Baseline("mahony", run_mahony, {"k_P": 1.0, "k_I": 0.3},
                 {"k_P": [0.02, 0.05, 0.1, 0.2, 0.5], "k_I": [1e-6, 0.002, 0.01, 0.05]}),
        Baseline("ekf", run_ekf, {"var_acc": 0.5**2, "var_gyr": 0.3**2},
                 {"var_acc": [0.25, 1.0, 4.0, 16.0, 64.0, 256.0], "var_gyr": [0.3**2]}),
        Baseline("vqf", run_vqf, {"tau_acc": 3.0, "bias_sigma_init": 0.5, "bias_forgetting_time": 100.0,
                                  "motion_bias": True},
                 {"tau_acc": [1.0, 2.0, 3.0, 4.5, 6.0, 10.0, 20.0, 40.0], "bias_sigma_init": [0.5, 2.0],
                  "bias_forgetting_time": [30.0, 100.0, 1000.0], "motion_bias": [True, False]}),
        Baseline("fusion", run_fusion, {"gain": 0.5, "acceleration_rejection": 0.0, "rejection_timeout_s": 0.0},
                 {"gain": [0.02, 0.05, 0.1, 0.2, 0.5], "acceleration_rejection": [0.0, 5.0, 10.0, 20.0],
                  "rejection_timeout_s": [10.0]}),
    )
}


def riann_onnx_path() -> str:
    """The ``riann.onnx`` that the ``riann`` package ships (its default constructor cannot find it)."""
    import riann

    path = Path(riann.__file__).resolve().parent / "riann.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the riann package is installed without its riann.onnx")
    return str(path)


def run_riann(seq: ImuSequence) -> np.ndarray:
    """RIANN (Weber, Gühmann, Seel 2021), untuned (it has no settings); its rate set from the recording."""
    from riann.riann import RIANN

    model = RIANN(riann_onnx_path())
    model.set_sampling_rate(float(seq.rate_hz))
    return np.asarray(model.predict(seq.acc.astype(np.float32), seq.gyr.astype(np.float32), fs=float(seq.rate_hz)),
                      dtype=np.float64)


def score(q_est: np.ndarray, seq: ImuSequence, warmup_s: float = WARMUP_S) -> dict[str, float]:
    """Mean tilt error and mean heading-aligned total rotation error (degrees) after the warm-up."""
    start = int(round(warmup_s * seq.rate_hz))
    q_true = seq.q[start:]
    q = q_est[start:]
    return {
        "tilt_deg": float(np.mean(quat.tilt_error_deg(q, q_true))),
        "rotation_deg": float(np.mean(quat.rotation_error_deg(quat.heading_aligned(q, q_true), q_true))),
    }


def evaluate(run: Callable[..., np.ndarray], seqs: Sequence[ImuSequence], params: dict[str, Any],
             ) -> dict[str, Any]:
    """Mean over sequences of each score, each sequence's tilt, plus the wall-clock cost per sample in µs."""
    tilts, rots, samples, seconds = [], [], 0, 0.0
    for seq in seqs:
        t0 = time.perf_counter()
        q = run(seq, **params)
        seconds += time.perf_counter() - t0
        samples += len(seq)
        s = score(q, seq)
        tilts.append(s["tilt_deg"])
        rots.append(s["rotation_deg"])
    return {"tilt_deg": float(np.mean(tilts)), "rotation_deg": float(np.mean(rots)),
            "per_sequence_tilt_deg": [round(t, 3) for t in tilts], "us_per_sample": 1e6 * seconds / max(samples, 1)}


def tune(baseline: Baseline, val: Sequence[ImuSequence],
         progress: Callable[[str], None] | None = None) -> tuple[dict[str, Any], float]:
    """Grid search on the validation split: (best params, its validation tilt error)."""
    keys = list(baseline.grid)
    best: tuple[dict[str, Any], float] | None = None
    for values in itertools.product(*(baseline.grid[k] for k in keys)):
        params = dict(zip(keys, values, strict=True))
        err = evaluate(baseline.run, val, params)["tilt_deg"]
        if progress:
            progress(f"{baseline.name} {params} -> {err:.3f}°")
        if best is None or err < best[1]:
            best = (params, err)
    assert best is not None
    return best
