"""IMU attitude: how far can the current design go? The core with the TRUE σ_a, on validation only.

    .venv/bin/python benchmarks/imu_ceiling.py        # writes benchmarks/results/imu_ceiling.json

Every figure here is on each family's **validation** split (10 x 40 s, the split the benchmark tunes the
filters on; the test split is never read). Per family:

* ``filter``: the best tuned filter on validation, at the parameters ``benchmarks/imu.py`` chose there
  (read from ``benchmarks/results/imu.json``);
* ``model``: the shipped (in-family) model;
* ``oracle_sigma``: the shipped model's core fed the generator's true ``σ_a`` (the network's target: the
  RMS per axis of the true linear acceleration over the training's window, centred 1 s, the shipped
  ``TrainConfig``'s target) instead of the network's estimate: the ceiling of a perfect network under the
  current design;
* ``oracle_sigma_rule``: the true ``σ_a`` into a core whose constants the training rule itself
  (``neuroedge.imu.train.tune_core``, on the all-family core validation split, 5 x 40 s per family)
  chose for that true ``σ_a``: the ceiling of the current design with a perfect network;
* ``oracle_sigma_sensor``: as ``oracle_sigma`` with the core's sensor figures (gyro noise, bias spread,
  bias walk) set to the sequence's true ones (what a network that also set those could reach);
* ``oracle_family``: one hypothesis ``(c, floor, τ)`` fed the true ``σ_a``, its constants chosen per family
  on validation sequences 0-4 and scored on 5-9 (a network that knew the family and set every constant);
  ``oracle_family_in_sample`` is the best on all ten (optimistic);
* error sources: the model and the filter on the same sequences with one error source removed each
  (``no_bias``: gyro bias zero; ``no_lin``: linear acceleration subtracted from the accelerometer;
  ``no_gyro_noise``), the rest unchanged (same seeds, same draws);
* ``net_log_err``: the RMS of ``log(σ_a + 0.05)`` less the network's ``log σ_a`` (its training loss's
  root), and ``net_sigma_when_quiet``: the network's median ``σ_a`` where the true one is below 0.3 m/s².
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np
from common import RESULTS_DIR, write_results

from neuroedge.imu import quaternion as quat
from neuroedge.imu.baselines import BASELINES, score
from neuroedge.imu.core import NET_FLOOR_OFF, core_params, core_scan
from neuroedge.imu.families import FAMILIES, ImuSequence, generate_split
from neuroedge.imu.fast import AttitudeModel
from neuroedge.imu.learn import TARGET_FLOOR, disturbance_target
from neuroedge.imu.train import TrainConfig, params_of, tune_core, validation

N_VAL, VAL_S = 10, 40.0
GRID_C = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
GRID_FLOOR = (0.01, 0.03, 0.1, 0.3, 1.0)
GRID_TAU = (0.3, 1.2, 5.0, 30.0, 200.0)


def true_sigma(seq: ImuSequence) -> np.ndarray:
    return np.exp(disturbance_target(seq)[:, 0]) - TARGET_FLOOR


def core_fed(seq: ImuSequence) -> np.ndarray:
    """The true ``σ_a`` as ``core_scan`` must be fed it: the core takes ``NET_FLOOR_OFF`` off what it is fed
    (meant for the network's figure), so it is added back here."""
    return np.ascontiguousarray(true_sigma(seq) + NET_FLOOR_OFF)


def tilt(q: np.ndarray, seq: ImuSequence) -> float:
    return score(q, seq)["tilt_deg"]


def sensor_cp(cp: np.ndarray, seq: ImuSequence) -> np.ndarray:
    """``cp`` with the core's sensor figures (gyro noise, bias walk, bias spread) set to the sequence's own."""
    c = seq.meta["config"]
    out = cp.copy()
    out[3:6] = [math.radians(c.gyro_noise_dps_rthz), math.radians(c.gyro_bias_walk_dps_rts),
                math.radians(c.gyro_bias_dps)]
    return out


def no_lin(seq: ImuSequence) -> ImuSequence:
    lin = seq.meta["linear_acc_world"]
    return replace(seq, acc=seq.acc - quat.rotate(quat.conj(seq.q), lin))


def rule_core() -> np.ndarray:
    """The core the training rule chooses when fed the true ``σ_a`` (all five families' core validation split)."""
    config = TrainConfig()
    val = validation(config)
    return params_of(tune_core(config, val, [core_fed(s) for s in val]))


def family_ceiling(fam: str, model: AttitudeModel, filt: tuple[str, dict], oracle_cp: np.ndarray) -> dict:
    val = generate_split("val", fam, N_VAL, VAL_S)
    name, params = filt
    run_f = BASELINES[name].run
    sig = [np.ascontiguousarray(true_sigma(s)) for s in val]
    cp = model.core
    pairs = list(zip(val, [core_fed(s) for s in val], strict=True))

    def mean(xs: list[float]) -> float:
        return float(np.mean(xs))

    row: dict = {"filter_name": name, "filter": mean([tilt(run_f(s, **params), s) for s in val]),
                 "model": mean([tilt(model.run(s.acc, s.gyr, s.rate_hz), s) for s in val])}
    row["oracle_sigma"] = mean([tilt(core_scan(s.acc, s.gyr, sa, s.rate_hz, cp), s) for s, sa in pairs])
    row["oracle_sigma_rule"] = mean([tilt(core_scan(s.acc, s.gyr, sa, s.rate_hz, oracle_cp), s)
                                     for s, sa in pairs])
    net = [np.exp(model.log_sigma_a(s.acc, s.gyr, s.rate_hz)) for s in val]
    row["net_log_err"] = float(np.sqrt(np.mean(np.concatenate(
        [(np.log(sa + TARGET_FLOOR) - np.log(n)) ** 2 for sa, n in zip(sig, net, strict=True)]))))
    row["net_sigma_when_quiet"] = float(np.median(np.concatenate([n[sa < 0.3] for sa, n in zip(sig, net, strict=True)])))
    row["oracle_sigma_sensor"] = mean([tilt(core_scan(s.acc, s.gyr, sa, s.rate_hz, sensor_cp(cp, s)), s)
                                       for s, sa in pairs])
    per = {}
    for c, f, t in itertools.product(GRID_C, GRID_FLOOR, GRID_TAU):
        p = core_params([(c, t)], 10.0, f)
        per[(c, f, t)] = [tilt(core_scan(s.acc, s.gyr, sa, s.rate_hz, p), s) for s, sa in pairs]
    half = N_VAL // 2
    pick = min(per, key=lambda k: mean(per[k][:half]))
    row["oracle_family"] = mean(per[pick][half:])
    row["oracle_family_filter_same_half"] = mean([tilt(run_f(s, **params), s) for s in val[half:]])
    row["oracle_family_choice"] = list(pick)
    best_all = min(per, key=lambda k: mean(per[k]))
    row["oracle_family_in_sample"] = mean(per[best_all])
    row["oracle_family_in_sample_choice"] = list(best_all)
    variants = {"no_bias": generate_split("val", fam, N_VAL, VAL_S, gyro_bias_dps=0.0, gyro_bias_walk_dps_rts=0.0),
                "no_lin": [no_lin(s) for s in val],
                "no_gyro_noise": generate_split("val", fam, N_VAL, VAL_S, gyro_noise_dps_rthz=0.0)}
    for key, seqs in variants.items():
        row[f"model_{key}"] = mean([tilt(model.run(s.acc, s.gyr, s.rate_hz), s) for s in seqs])
        row[f"filter_{key}"] = mean([tilt(run_f(s, **params), s) for s in seqs])
    for k in [k for k in row if isinstance(row[k], float) and k != "filter"]:
        ref = row["oracle_family_filter_same_half"] if k == "oracle_family" else row["filter"]
        if not k.startswith(("filter_", "net_")) and k != "oracle_family_filter_same_half":
            row[f"ratio_{k}"] = row[k] / ref
    return row


def main() -> None:
    bench = json.loads((RESULTS_DIR / "imu.json").read_text())
    model = AttitudeModel.load()
    oracle_cp = rule_core()
    out = {}
    for fam in FAMILIES:
        filters = bench["families"][fam]["detail"]["filters"]
        name = min(filters, key=lambda n: filters[n]["val_tilt_deg"])  # chosen on validation
        out[fam] = family_ceiling(fam, model, (name, filters[name]["params"]), oracle_cp)
        r = out[fam]
        print(f"{fam:14s} filter {r['filter_name']} {r['filter']:.3f}  model {r['model']:.3f} "
              f"({r['ratio_model']:.2f}x)  oracle σ_a {r['oracle_sigma']:.3f} ({r['ratio_oracle_sigma']:.2f}x)  "
              f"rule {r['oracle_sigma_rule']:.3f} ({r['ratio_oracle_sigma_rule']:.2f}x)  "
              f"+sensor {r['oracle_sigma_sensor']:.3f} ({r['ratio_oracle_sigma_sensor']:.2f}x)  per-family "
              f"{r['oracle_family']:.3f} ({r['ratio_oracle_family']:.2f}x, in-sample "
              f"{r['ratio_oracle_family_in_sample']:.2f}x)", flush=True)
        print(f"{'':14s} sources: model no_bias {r['model_no_bias']:.3f} no_lin {r['model_no_lin']:.3f} "
              f"no_gyro_noise {r['model_no_gyro_noise']:.3f} | filter no_bias {r['filter_no_bias']:.3f} "
              f"no_lin {r['filter_no_lin']:.3f} no_gyro_noise {r['filter_no_gyro_noise']:.3f} | network log err "
              f"{r['net_log_err']:.2f}, σ_a when quiet {r['net_sigma_when_quiet']:.2f}", flush=True)
    ratios = {k: float(np.median([out[f][f"ratio_{k}"] for f in FAMILIES]))
              for k in ("model", "oracle_sigma", "oracle_sigma_rule", "oracle_sigma_sensor", "oracle_family", "oracle_family_in_sample")}
    print("median ratios on validation:", {k: round(v, 3) for k, v in ratios.items()})
    write_results("imu_ceiling", {"families": out, "median_ratio": ratios, "oracle_core": oracle_cp.tolist(),
                                  "split": f"val, {N_VAL} x {VAL_S:.0f} s"})


if __name__ == "__main__":
    main()
