"""Classical orientation filters on the same sequences as the model, each at default and tuned settings.

Filters: Madgwick, Mahony and EKF from ``ahrs``; VQF (Laidig & Seel 2023) from ``vqf``; x-io's Fusion from
``imufusion``; and the neural peer RIANN (``riann``, not tuned: it has no settings). All take gyro in rad/s and accel in m/s² here; each wrapper converts to what its library wants
(Fusion: °/s and g) and returns quaternions ``[N, 4]`` (w, x, y, z), body -> world, z up.

Tuning is a full grid search on a validation split (seeds the test split never uses), minimising mean tilt
error after the warm-up: an untuned baseline flatters the model. Madgwick, Mahony and the EKF run as
compiled ports of ``ahrs``' own updates (``neuroedge.imu.classic``, checked against ``ahrs`` to 1e-9), so
the grids can be fine and the split as large as the test split.
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
from neuroedge.imu.classic import ekf_scan, madgwick_scan, mahony_scan
from neuroedge.imu.families import GRAVITY, ImuSequence

WARMUP_S = 5.0  # every method (filters and model) is scored after this, so start-up transients do not count


def _q0(seq: ImuSequence) -> np.ndarray:
    return quat.from_accel(seq.acc[0])


def _c(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def run_madgwick(seq: ImuSequence, gain: float = 0.033) -> np.ndarray:
    """``ahrs``' Madgwick, compiled (``neuroedge.imu.classic``: the same arithmetic, checked against ahrs)."""
    return madgwick_scan(_c(seq.gyr), _c(seq.acc), 1.0 / seq.rate_hz, float(gain), _q0(seq))


def run_mahony(seq: ImuSequence, k_P: float = 1.0, k_I: float = 0.3) -> np.ndarray:  # noqa: N803 - ahrs names
    return mahony_scan(_c(seq.gyr), _c(seq.acc), 1.0 / seq.rate_hz, float(k_P), float(k_I), _q0(seq))


def run_ekf(seq: ImuSequence, var_acc: float = 0.5**2, var_gyr: float = 0.3**2) -> np.ndarray:
    # Measured: with our z-up data (+g on up at rest) ahrs' EKF converges only with frame="NED";
    # with "ENU" it locks on upside down (180° tilt error). The compiled port is the NED update.
    return ekf_scan(_c(seq.gyr), _c(seq.acc), 1.0 / seq.rate_hz, float(var_gyr), float(var_acc), _q0(seq))


def run_vqf(seq: ImuSequence, tau_acc: float = 3.0, bias_sigma_init: float = 0.5,
            bias_forgetting_time: float = 100.0, motion_bias: bool = True, bias_sigma_motion: float = 0.1,
            bias_clip: float = 2.0) -> np.ndarray:
    """VQF in its 6D mode (``quat6D``), gyro in rad/s and accel in m/s² as the library expects.

    Besides ``tauAcc`` the tuning covers the gyro-bias estimator (VQF's own strength): its initial
    uncertainty (°/s), forgetting time (s), whether it estimates bias during motion at all and how fast
    (``biasSigmaMotion``, °/s), and its clip (°/s; the library's 2 °/s is below some of our sensors'
    biases, which are drawn with a 0.2-1 °/s spread per axis). Rest-bias estimation stays on (library
    default); our sequences have no rest after the first second.
    """
    from vqf import VQF

    f = VQF(1.0 / seq.rate_hz, tauAcc=tau_acc, biasSigmaInit=bias_sigma_init,
            biasForgettingTime=bias_forgetting_time, motionBiasEstEnabled=bool(motion_bias),
            biasSigmaMotion=bias_sigma_motion, biasClip=bias_clip)
    out = f.updateBatch(_c(seq.gyr), _c(seq.acc))
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
    redundant: Callable[[dict[str, Any]], bool] | None = None  # grid points that repeat another's estimate


def _geom(lo: float, hi: float, n: int) -> list[float]:
    """``n`` log-spaced values from ``lo`` to ``hi``, 3 significant digits (readable in the JSON)."""
    return [float(f"{v:.3g}") for v in np.geomspace(lo, hi, n)]


# Grids: log-spaced; ``tune`` steps past an edge where the best value sits on one (and records it as
# ``at_edge`` if it stops there); every option that changes the estimate is searched, VQF's bias
# estimator included.
BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("madgwick", run_madgwick, {"gain": 0.033}, {"gain": _geom(1e-4, 0.3, 25)}),
        Baseline("mahony", run_mahony, {"k_P": 1.0, "k_I": 0.3},
                 {"k_P": _geom(2e-3, 3.0, 15), "k_I": [0.0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1]}),
        Baseline("ekf", run_ekf, {"var_acc": 0.5**2, "var_gyr": 0.3**2},
                 {"var_acc": _geom(0.003, 1e6, 18), "var_gyr": [1e-3, 0.01, 0.09, 1.0]}),
        Baseline("vqf", run_vqf, {"tau_acc": 3.0, "bias_sigma_init": 0.5, "bias_forgetting_time": 100.0,
                                  "motion_bias": True, "bias_sigma_motion": 0.1, "bias_clip": 2.0},
                 {"tau_acc": _geom(0.5, 100.0, 12), "bias_sigma_init": [0.5, 2.0],
                  "bias_forgetting_time": [3.0, 10.0, 30.0, 100.0, 1000.0], "motion_bias": [True, False],
                  "bias_sigma_motion": [0.03, 0.1, 0.3], "bias_clip": [2.0, 5.0]},
                 lambda p: not p["motion_bias"] and p["bias_sigma_motion"] != 0.1),  # unused without it
        Baseline("fusion", run_fusion, {"gain": 0.5, "acceleration_rejection": 0.0, "rejection_timeout_s": 0.0},
                 {"gain": _geom(0.005, 2.0, 8), "acceleration_rejection": [0.0, 5.0, 10.0, 20.0, 40.0, 90.0],
                  "rejection_timeout_s": [0.2, 1.0, 5.0, 20.0]}),
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
    """Mean tilt error and mean heading-aligned total rotation error (degrees) after the warm-up, over the rows
    where the reference is present."""
    start = int(round(warmup_s * seq.rate_hz))
    ok = quat.present(seq.q[start:])  # a reference's dropouts are not scored
    q_true = seq.q[start:][ok]
    q = q_est[start:][ok]
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


def _numeric(grid: Sequence[Any]) -> list[float]:
    return sorted(g for g in grid if not isinstance(g, bool))


def tune(baseline: Baseline, val: Sequence[ImuSequence], progress: Callable[[str], None] | None = None,
         max_steps: int = 6) -> tuple[dict[str, Any], float, dict[str, list[float]]]:
    """Grid search on the validation split, then past the grid's edges: where the best value of a numeric
    option (three values or more) is its grid's first or last, that option alone steps on by the grid's own
    ratio while the error falls, at most ``max_steps`` times (a grid from zero only upwards). Why: on 10 x
    40 s per family, fixed grids left VQF's bias forgetting time at its lowest value on four families and
    Fusion's rejection timeout at its lowest on all five. Returns the best parameters, their
    validation tilt error, and every value tried per option (``at_edge`` reads those)."""
    keys = list(baseline.grid)
    tried = {k: list(baseline.grid[k]) for k in keys}
    best: tuple[dict[str, Any], float] | None = None
    for values in itertools.product(*(baseline.grid[k] for k in keys)):
        params = dict(zip(keys, values, strict=True))
        if baseline.redundant is not None and baseline.redundant(params):
            continue
        err = evaluate(baseline.run, val, params)["tilt_deg"]
        if progress:
            progress(f"{baseline.name} {params} -> {err:.3f}°")
        if best is None or err < best[1]:
            best = (params, err)
    assert best is not None
    for k in keys:
        nums = _numeric(baseline.grid[k])
        if len(nums) < 3:
            continue
        ends = [(nums[-1], nums[-1] / nums[-2])] if nums[-2] > 0 else []
        ends += [(nums[0], nums[0] / nums[1])] if nums[0] > 0 else []  # a grid from zero has no step below
        for end, ratio in ends:
            value = end
            for _ in range(max_steps):
                if best[0][k] != value:
                    break
                value = float(f"{value * ratio:.3g}")
                params = {**best[0], k: value}
                tried[k].append(value)
                err = evaluate(baseline.run, val, params)["tilt_deg"]
                if progress:
                    progress(f"{baseline.name} {params} -> {err:.3f}° (past the grid)")
                if err < best[1]:
                    best = (params, err)
    return best[0], best[1], tried


def at_edge(params: dict[str, Any], tried: dict[str, Sequence[Any]]) -> list[str]:
    """The numeric options (three values or more) whose chosen value is the first or last of all it tried:
    the search stopped there (``max_steps``, or a grid that starts at zero), so a better value may lie past it."""
    out = []
    for k, grid in tried.items():
        nums = _numeric(grid)
        if len(nums) > 2 and params[k] in (nums[0], nums[-1]):
            out.append(k)
    return out
