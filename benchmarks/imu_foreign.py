"""The shipped IMU model on motion from a generator written apart from ``neuroedge.imu.families``.

    .venv/bin/python benchmarks/imu_foreign.py        # ~3 min; writes benchmarks/results/imu_foreign.json

Leave-one-family-out (``benchmarks/imu.py``) still uses our own generator for every family. This one
is built differently on purpose: scipy only, motion as Butterworth-filtered Gaussian noise (zero-phase,
so each recording starts in steady state: already turning and accelerating, as a recording cut from a
longer one does), the attitude integrated exactly with ``scipy.spatial.transform.Rotation``. Three kinds:

* ``fast``: the motion the issue describes for an outside check: smooth random rotation with mean
  |ω| about 4 rad/s, linear acceleration low-passed noise (1.5 m/s² per axis), so velocity random-walks;
* ``slow``: slow tilting (0.6 rad/s) under strong, slow linear acceleration (2.5 m/s² per axis, 0.5 Hz);
* ``bursts``: still stretches and shaken ones (4 m/s², 3 rad/s at 2-3 Hz), switched by a slow envelope;
* ``walking`` (added 2026-12-03, after the model and its core rule were fixed; nothing is chosen on it):
  an IMU strapped to a walker's torso at a random mounting tilt (up to 30°): a gait at 1.6-2.2 steps/s
  (vertical 1.5-3 m/s², fore-aft 0.8-1.5 m/s² at the step rate, sideways sway 0.3-0.8 m/s² at half of
  it; pitch and roll wobble 2-5° with it), at about 1.3 m/s, turning slowly. Here the attitude is the
  primary signal and the gyro is its exact body rate between samples, not the other way round.

* ``ahrs`` and ``ahrs_default`` (added 2026-12-03, after the model was fixed; nothing is chosen on them):
  motion and sensor from **another project's simulator**, ``ahrs.Sensors`` (the ``ahrs`` package):
  its random angular positions (about 2.4 rad/s mean), the accelerometer gravity alone (no linear
  acceleration: the sensor turns about its own centre), its own small gyro bias. ``ahrs`` draws the noise
  at the same consumer figures as the other kinds (below); ``ahrs_default`` keeps the package's
  defaults, a gyro noise of about 0.57 °/s/√Hz at 100 Hz (some 50x a consumer part's) and 0.1 m/s² on
  the accelerometer. Its quaternions are body -> world, z up (``neuroedge.imu.reference`` checks them).

Sensor per recording (the kinds of this file's own generator): 100 or 200 Hz, gyro noise 0.005-0.03 °/s/√Hz, constant gyro bias up to ±1.5 °/s
per axis, accelerometer noise 0.001-0.006 m/s²/√Hz. Every filter is tuned on each kind's validation
seeds (``neuroedge.imu.evaluate.tune_filters``) and the best on validation is the reference; the model
is the shipped one, trained on our five families only, never on these. RIANN runs as shipped.

Disclosure: the core's still-or-moving start prior (``neuroedge.imu.core.core_init``) was designed after
the model was seen failing on this generator's recordings (seeds 2000-2003, which started in motion);
the figures here use other seeds (validation 1000+, test 5000+). Likewise the pauses in our families
(``neuroedge.imu.families``: half the sequences put down now and then) were added after the model was
seen, on ``bursts``' validation seeds 1000-1005, to stay gyro-only through whole still stretches after
shaking (tilt error growing from 4° to 7° while still); the test seeds were not looked at. And the
steady-intensity sequences (``neuroedge.imu.families._steady``) were added after the model was seen losing
to its own members at a constant σ_a on ``fast``' and ``slow``' validation seeds (1000-1005); the failure
was then reproduced on our own ``random_walk`` and the change kept by a rule on our families' validation
splits, before this generator's test seeds were run. The core's velocity cap (``neuroedge.imu.core``)
was designed after the shipped model was diagnosed on ``walking``'s validation seeds 1000-1005 (3.07°
against tuned VQF's 2.01°); its constants were chosen on our five families' validation splits and kept
by a rule on them (``benchmarks/imu_rule_checks.py vel_cap``), walking's seeds printed but not used; its
test seeds were not looked at before the figures here.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from common import write_results
from scipy.signal import butter, filtfilt
from scipy.spatial.transform import Rotation

from neuroedge.imu.ahrs_sensors import ahrs_recording
from neuroedge.imu.baselines import BASELINES, evaluate
from neuroedge.imu.evaluate import score_filters, score_model, score_riann, tune_filters
from neuroedge.imu.families import ImuSequence
from neuroedge.imu.fast import SHIPPED, AttitudeModel

KINDS = {  # (rotation rate scale rad/s, its cut-off Hz, linear acceleration m/s², its cut-off Hz)
    "fast": (2.6, 0.8, 1.5, 1.5),
    "slow": (0.6, 0.3, 2.5, 0.5),
    "bursts": (3.0, 2.0, 4.0, 3.0),
    "walking": (0.3, 0.2, 0.0, 0.0),  # the heading's turn rate and its cut-off; the gait is in ``_walking``
    "ahrs": (0.0, 0.0, 0.0, 0.0),  # ahrs.Sensors' motion (``_ahrs``)
    "ahrs_default": (0.0, 0.0, 0.0, 0.0),
}
N_VAL, N_TEST, SECONDS = 6, 8, 40.0
VAL_SEED, TEST_SEED = 1000, 5000


def _smooth(rng: np.random.Generator, n: int, dims: int, rate: float, cutoff: float) -> np.ndarray:
    b, a = butter(2, cutoff / (rate / 2))
    x = filtfilt(b, a, rng.standard_normal((n + 400, dims)), axis=0)[200:-200]
    return x / x.std(axis=0)


def _walking(rng: np.random.Generator, n: int, rate: float) -> tuple[Rotation, np.ndarray, np.ndarray]:
    """Attitude, world linear acceleration and body rate of a gait (see the module docstring)."""
    t = np.arange(n + 1) / rate
    step = rng.uniform(1.6, 2.2) * 2 * np.pi * t
    phase = rng.uniform(0, 2 * np.pi, 4)
    heading = np.cumsum(_smooth(rng, n + 1, 1, rate, KINDS["walking"][1])[:, 0] * KINDS["walking"][0]) / rate
    wobble_p, wobble_r = np.radians(rng.uniform(2, 5, 2))
    pitch = wobble_p * np.sin(step + phase[0])
    roll = wobble_r * np.sin(0.5 * step + phase[1])
    mount = Rotation.from_euler("xy", rng.uniform(-0.5, 0.5, 2))
    att = Rotation.from_euler("zyx", np.stack([heading, pitch, roll], axis=1)) * mount
    speed = 1.3 + 0.1 * _smooth(rng, n + 1, 1, rate, 0.2)[:, 0]
    fwd = rng.uniform(0.8, 1.5) * np.sin(step + phase[2])
    side = rng.uniform(0.3, 0.8) * np.sin(0.5 * step + phase[3])
    up = rng.uniform(1.5, 3.0) * np.sin(step)
    turn = np.gradient(heading, 1 / rate) * speed  # centripetal, sideways
    along = np.stack([np.cos(heading), np.sin(heading), 0 * t], axis=1)
    across = np.stack([-np.sin(heading), np.cos(heading), 0 * t], axis=1)
    lin = along * fwd[:, None] + across * (side + turn)[:, None] + np.outer(up, [0.0, 0.0, 1.0])
    body_rate = (att[:-1].inv() * att[1:]).as_rotvec() * rate
    return att[:-1], lin[:-1], body_rate


def _ahrs(seed: int, kind: str, seconds: float) -> ImuSequence:
    """A recording simulated by ``ahrs.Sensors`` (the module docstring says what it holds)."""
    rng = np.random.default_rng(seed)
    rate = float(rng.choice([100.0, 200.0]))
    n = int(seconds * rate)
    noise = {}
    if kind == "ahrs":  # per-sample standard deviations (deg/s, m/s²) from densities, as below
        noise = {"gyr_noise": rng.uniform(0.005, 0.03) * np.sqrt(rate),
                 "acc_noise": rng.uniform(0.001, 0.006) * np.sqrt(rate)}
    seq = ahrs_recording(n, rate, rng, {"kind": kind, "seed": seed}, **noise)
    seq.meta["mean_rate_rad_s"] = float(np.linalg.norm(seq.gyr, axis=1).mean())
    return seq


def recording(seed: int, kind: str, seconds: float = SECONDS) -> ImuSequence:
    """One recording of ``kind`` (see the module docstring); ``q`` body -> world, w first, z up."""
    if kind.startswith("ahrs"):
        return _ahrs(seed, kind, seconds)
    rng = np.random.default_rng(seed)
    w_scale, w_cut, a_scale, a_cut = KINDS[kind]
    rate = float(rng.choice([100.0, 200.0]))
    n = int(seconds * rate)
    if kind == "walking":
        att, lin, w = _walking(rng, n, rate)
    else:
        w = _smooth(rng, n, 3, rate, w_cut) * w_scale
        lin = _smooth(rng, n, 3, rate, a_cut) * a_scale
        if kind == "bursts":
            shaken = (_smooth(rng, n, 1, rate, 0.1)[:, 0] > 0.3).astype(float)[:, None]
            w, lin = w * shaken, lin * shaken
        rots = [Rotation.from_euler("xy", rng.uniform(-0.6, 0.6, 2))]
        for step in Rotation.from_rotvec(w[:-1] / rate):
            rots.append(rots[-1] * step)
        att = Rotation.concatenate(rots)
    acc = att.inv().apply(lin + [0.0, 0.0, 9.81])
    acc += rng.uniform(0.001, 0.006) * np.sqrt(rate) * rng.standard_normal((n, 3))
    gyr = w + np.radians(rng.uniform(-1.5, 1.5, 3))
    gyr += np.radians(rng.uniform(0.005, 0.03)) * np.sqrt(rate) * rng.standard_normal((n, 3))
    q = att.as_quat()[:, [3, 0, 1, 2]]
    return ImuSequence(np.arange(n) / rate, acc, gyr, q * np.sign(q[:, :1] + 1e-12), rate,
                       {"kind": kind, "seed": seed, "mean_rate_rad_s": float(np.linalg.norm(w, axis=1).mean())})


def main() -> None:
    t0 = time.perf_counter()
    model = AttitudeModel.load(SHIPPED)
    kinds = {}
    for kind in KINDS:
        val = [recording(VAL_SEED + i, kind) for i in range(N_VAL)]
        test = [recording(TEST_SEED + i, kind) for i in range(N_TEST)]
        tuned = tune_filters(val)
        filters = score_filters(test, tuned)
        chosen = min(tuned, key=lambda name: tuned[name]["val_tilt_deg"])
        m = score_model(model, test)["tilt_deg"]
        row = {"model": m, "riann": score_riann(test)["tilt_deg"],
               **{name: f["tilt_deg"] for name, f in filters.items()},
               "best_filter_on_validation": chosen, "best_tuned_filter": filters[chosen]["tilt_deg"],
               "ratio_to_best_tuned": m / filters[chosen]["tilt_deg"],
               "ratio_to_best_tuned_on_test": m / min(f["tilt_deg"] for f in filters.values()),
               "defaults": {name: evaluate(b.run, test, b.defaults)["tilt_deg"] for name, b in BASELINES.items()},
               "tuned_params": {name: f["params"] for name, f in filters.items()},
               "mean_rate_rad_s": float(np.mean([s.meta["mean_rate_rad_s"] for s in test])),
               "starts_still": int(sum(np.linalg.norm(s.gyr[0]) < 0.2 for s in test))}
        row["ratio_to_best_default"] = m / min(row["defaults"].values())
        kinds[kind] = row
        print(f"{kind:7s} model {m:.2f}°  best tuned ({chosen}) {row['best_tuned_filter']:.2f}°  ratio "
              f"{row['ratio_to_best_tuned']:.2f}  riann {row['riann']:.2f}°  best default "
              f"{min(row['defaults'].values()):.2f}°", flush=True)
    write_results("imu_foreign", {
        "kinds": kinds, "n_val": N_VAL, "n_test": N_TEST, "seconds": SECONDS,
        "protocol": "filters tuned on each kind's validation seeds, the best on validation is the reference; "
                    "the model is the shipped one (trained on neuroedge's five families, never on this generator)",
        "disclosure": __doc__.split("Disclosure: ")[1].strip(),
        "benchmark_seconds": time.perf_counter() - t0})


if __name__ == "__main__":
    sys.exit(main())
