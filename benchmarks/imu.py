"""IMU attitude benchmark: leave-one-family-out, against tuned filters and RIANN; step and recording latency.

    .venv/bin/python benchmarks/imu.py            # writes benchmarks/results/imu.json and imu_families.png
    .venv/bin/python benchmarks/imu.py --ship     # and writes the in-family model into the package

* Families (``neuroedge.imu.families``): handheld, random_walk, vehicle, fast_rotation, impacts; every
  sequence with its own rate (50-400 Hz) and consumer sensor. Training, validation and test seeds are
  disjoint ranges.
* ``model``: for each family, the model trained **without** it (leave-one-family-out), its core chosen on
  the other families' validation split. ``model_in_family``: trained on all five (the shipped model).
  ``model_core_only``: the leave-one-out model's core with a constant ``σ_a`` in place of the network,
  chosen the same way. Trainings are cached by content hash (``TrainConfig.key``): only what changed retrains.
* Filters (Madgwick, Mahony, EKF, VQF, Fusion) are tuned on **that family's own** validation split (10 x
  40 s, as large as the test split; a full grid per filter, VQF's bias estimator included; cached by
  content hash), then scored on its test split; ``best_tuned_filter`` is the lowest on test, and
  ``best_filter_on_validation`` the one validation would pick. Each ratio comes with a 90% bootstrap
  interval over the test sequences (resampled in pairs): per-sequence errors vary several-fold within a
  family, so 10 test sequences per family, not 3. RIANN is not tuned (no settings); its
  rate is set per recording.
* Latency: one model step (compiled, ``Stream.step``) against one RIANN step (onnxruntime, 1 thread, IO
  binding), interleaved in one process; and one 120 s recording at 200 Hz through ``AttitudeModel.run``.
"""

from __future__ import annotations

import time

import numpy as np
from common import RESULTS_DIR, pyplot, save_figure, write_results
from rich.console import Console
from rich.table import Table

from neuroedge.imu.evaluate import (
    FILTER_VAL_SPLIT,
    load_or_tune_filters,
    recording_seconds,
    score_filters,
    score_model,
    score_riann,
    step_latency,
)
from neuroedge.imu.families import FAMILIES, generate_split
from neuroedge.imu.fast import SHIPPED, AttitudeModel
from neuroedge.imu.train import CACHE_DIR, TrainConfig, load_or_train

# The filters' validation split (``FILTER_VAL_SPLIT``); their tunings are cached (``load_or_tune_filters``).
N_VAL, VAL_S = FILTER_VAL_SPLIT
N_TEST, TEST_S = 10, 40.0
BOOT = 2000  # bootstrap resamples of the test sequences for the ratios' 90% intervals


def ratio_interval(model: list[float], filt: list[float], seed: int = 0) -> list[float]:
    """90% bootstrap interval of ``mean(model) / mean(filter)``, the test sequences resampled in pairs."""
    a, b = np.asarray(model), np.asarray(filt)
    idx = np.random.default_rng(seed).integers(0, len(a), (BOOT, len(a)))
    r = a[idx].mean(axis=1) / b[idx].mean(axis=1)
    return [float(np.percentile(r, 5)), float(np.percentile(r, 95))]


def plot(families: dict, path) -> None:  # noqa: ANN001
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    names = list(families)
    x = np.arange(len(names))
    cols = [("model", "model (family unseen)", "#dd8452"), ("model_in_family", "model (in family)", "#c44e52"),
            ("model_core_only", "core only", "#8c8c8c"), ("riann", "RIANN", "#55a868"),
            ("best_tuned_filter", "best tuned filter", "#4c72b0")]
    for k, (key, label, color) in enumerate(cols):
        ax.bar(x + (k - 2) * 0.16, [families[n][key] for n in names], 0.16, label=label, color=color)
    ax.set_xticks(x, names)
    ax.set_ylabel("mean tilt error (°), test split")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ship", action="store_true",
                    help="also write the in-family model to the package (neuroedge/imu/weights/attitude.npz)")
    args = ap.parse_args(argv)
    console = Console()
    t_start = time.perf_counter()
    trained = {}
    with console.status("training (cached by content hash; only what changed retrains)"):
        trained["all"] = load_or_train(TrainConfig())
        for fam in FAMILIES:
            trained[fam] = load_or_train(TrainConfig(families=tuple(f for f in FAMILIES if f != fam)))
    train_s = time.perf_counter() - t_start
    console.log(f"trainings ready in {train_s:.0f} s")
    in_family = trained["all"][0]
    families: dict[str, dict] = {}
    for fam in FAMILIES:
        with console.status(f"{fam}: tuning the filters on its validation split, scoring its test split"):
            test = generate_split("test", fam, N_TEST, TEST_S)
            tuned = load_or_tune_filters(fam, N_VAL, VAL_S, CACHE_DIR)
            filters = score_filters(test, tuned)
            lofo, core_only, meta = trained[fam]
            row = {"model": score_model(lofo, test), "model_in_family": score_model(in_family, test),
                   "model_core_only": score_model(core_only, test), "riann": score_riann(test),
                   "filters": filters}
        best_name = min(filters, key=lambda n: filters[n]["tilt_deg"])
        entry = {k: row[k]["tilt_deg"] for k in ("model", "model_in_family", "model_core_only", "riann")}
        entry.update({n: v["tilt_deg"] for n, v in filters.items()})
        entry.update({"best_tuned_filter": filters[best_name]["tilt_deg"], "best_tuned_filter_name": best_name,
                      "best_tuned_filter_params": filters[best_name]["params"],
                      "best_filter_on_validation": min(tuned, key=lambda n: tuned[n]["val_tilt_deg"]),
                      "ratio_unseen": row["model"]["tilt_deg"] / filters[best_name]["tilt_deg"],
                      "ratio_in_family": row["model_in_family"]["tilt_deg"] / filters[best_name]["tilt_deg"],
                      "ratio_unseen_90ci": ratio_interval(row["model"]["per_sequence_tilt_deg"],
                                                          filters[best_name]["per_sequence_tilt_deg"]),
                      "ratio_in_family_90ci": ratio_interval(row["model_in_family"]["per_sequence_tilt_deg"],
                                                             filters[best_name]["per_sequence_tilt_deg"]),
                      "detail": row, "lofo_core": meta["core"], "lofo_core_only": meta["core_only"],
                      "test_rates_hz": [s.rate_hz for s in test]})
        families[fam] = entry
        console.log(f"{fam}: model (unseen) {entry['model']:.2f}°, in family {entry['model_in_family']:.2f}°, "
                    f"core only {entry['model_core_only']:.2f}°, RIANN {entry['riann']:.2f}°, "
                    f"best tuned filter ({best_name}) {entry['best_tuned_filter']:.2f}°")

    with console.status("latency: model step vs RIANN step, interleaved; a 120 s recording"):
        lat = step_latency(in_family)
        rec = recording_seconds(in_family)
    shipped = in_family if args.ship else AttitudeModel.load(SHIPPED) if SHIPPED.is_file() else None
    ratios = [f["ratio_unseen"] for f in families.values()]
    in_ratios = [f["ratio_in_family"] for f in families.values()]
    data = {
        "families": families,
        "goals": {
            "never_worse_unseen": {"goal": "model <= 1.0 x best tuned filter on every family (unseen)",
                                   "ratios": dict(zip(FAMILIES, ratios, strict=True)),
                                   "met": bool(max(ratios) <= 1.0)},
            "better_unseen_median": {"goal": "median ratio <= 0.8", "value": float(np.median(ratios)),
                                     "met": bool(np.median(ratios) <= 0.8)},
            "in_family_median": {"goal": "median in-family ratio <= 0.5", "value": float(np.median(in_ratios)),
                                 "met": bool(np.median(in_ratios) <= 0.5)},
            "beats_riann": {"goal": "model < RIANN on every family",
                            "met": bool(all(f["model"] < f["riann"] for f in families.values()))},
            "latency": {"goal": "model step p50 <= 0.5 x RIANN step p50", "value": lat["ratio_p50"],
                        "met": bool(lat["ratio_p50"] <= 0.5)},
            "recording": {"goal": "120 s at 200 Hz in < 1 s", "value": rec["recording_120s_seconds"],
                          "met": bool(rec["recording_120s_seconds"] < 1.0)},
        },
        "model_step_p50_us": lat["model_step_p50_us"],
        "riann_step_p50_us": lat["riann_step_p50_us"],
        "latency": lat,
        "recording_120s_seconds": rec["recording_120s_seconds"],
        "recording": rec,
        "shipped_equals_in_family": bool(shipped is not None and np.array_equal(shipped.weights, in_family.weights)
                                         and np.array_equal(shipped.core, in_family.core)),
        "data": {"val": f"{N_VAL} x {VAL_S:.0f} s per family", "test": f"{N_TEST} x {TEST_S:.0f} s per family",
                 "rates": "drawn per sequence from 50-400 Hz", "sensor": "drawn per sequence (random_sensor)"},
        "training": {k: {"key": v[2]["key"], "families": v[2]["families"], "steps": v[2]["steps"]}
                     for k, v in trained.items()},
        "training_seconds_this_run": train_s,
        "benchmark_seconds": time.perf_counter() - t_start,
    }
    path = write_results("imu", data)
    if args.ship:  # after the results are stamped, so the stamp sees the committed code only
        in_family.save(SHIPPED)
        console.log(f"shipped the in-family model: {SHIPPED}")
    plot(families, RESULTS_DIR / "imu_families.png")

    table = Table(title="IMU attitude: mean tilt error (°) per family, test split")
    cols = ["family", "model (unseen)", "in family", "core only", "RIANN", "best tuned filter", "ratio (90% CI)"]
    for c in cols:
        table.add_column(c, justify="left" if c == "family" else "right")
    for fam, f in families.items():
        table.add_row(fam, f"{f['model']:.2f}", f"{f['model_in_family']:.2f}", f"{f['model_core_only']:.2f}",
                      f"{f['riann']:.2f}", f"{f['best_tuned_filter']:.2f} ({f['best_tuned_filter_name']})",
                      f"{f['ratio_unseen']:.2f} ({f['ratio_unseen_90ci'][0]:.2f}-{f['ratio_unseen_90ci'][1]:.2f})")
    console.print(table)
    console.print(f"step p50: model {lat['model_step_p50_us']:.1f} µs, RIANN {lat['riann_step_p50_us']:.1f} µs "
                  f"(ratio {lat['ratio_p50']:.2f}); 120 s recording {rec['recording_120s_seconds']:.2f} s")
    console.print(f"wrote {path} in {data['benchmark_seconds']:.0f} s")


if __name__ == "__main__":
    main()
