"""Rewrite the README's figure tables from benchmarks/results/*.json (run by `make bench` last).

Every figure in the README sits between ``<!-- NAME-table -->`` and ``<!-- /NAME-table -->`` and
is regenerated here from the JSON the benchmark wrote, so the README never drifts from a run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _stamp(d: dict) -> str:
    return f"\n\n_From `benchmarks/results/{{name}}.json`, commit `{d['git_commit'][:12]}`, {d['generated_at']}._"


def foundation(d: dict) -> str:
    rows = ["| model | neuroedge onnxruntime p50 | bare ORT loop p50 | torch eager p50 | speedup vs torch "
            "| spread of round p50s |", "|---|---|---|---|---|---|"]
    for name, label in (("digits_cnn", "digits CNN"), ("digits_mlp", "digits MLP (64-128-10)")):
        m = d["models"][name]
        spread = m.get("p50_spread_pct")
        rows.append(f"| {label} | {m['onnxruntime_p50_ms'] * 1000:.2f} µs | {m['bare_onnxruntime_p50_ms'] * 1000:.2f} µs"
                    f" | {m['torch_p50_ms'] * 1000:.2f} µs | {m['speedup_vs_torch']:.1f}x | "
                    + ("" if spread is None else f"{spread:.1f}%{' (unstable)' if m.get('unstable') else ''}") + " |")
    rows.append("")
    rows.append(f"Harness overhead (timing a no-op): {d['harness_overhead_us']:.3f} µs per iteration. "
                f"{d.get('rounds', '?')} interleaved rounds of {d.get('iterations_per_round', '?')} calls per variant.")
    return "\n".join(rows)


def splitquant(d: dict) -> str:
    models = {n: m for n, m in d.items() if isinstance(m, dict) and "fp32" in m}
    chosen = d.get("chosen_scheme")
    if chosen is None:  # a results file from before the validation split
        return _splitquant_old(d, models)
    rows = [f"Headline quantiser, chosen on the validation halves: **`{chosen}`** "
            f"(brevitas scheme `{d['chosen_scheme_brevitas']}`; rule: {d['choice_rule']}). Test halves:", "",
            "| model | FP32 | INT8 plain / split | INT4 plain / split | INT2 plain / split | INT2 gain | "
            "INT2 p50 merged / split / plain | merged bytes vs plain INT2 / INT3 / INT4 |",
            "|---|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        cells = [f"{m[b]['plain']:.2f} / {m[b]['splitquant']:.2f}" for b in ("int8", "int4", "int2")]
        dep = m.get("deploy_int2", {})
        lat = (f"{dep['merged_p50_us']:.1f} / {dep['split_p50_us']:.1f} / {dep['plain_p50_us']:.1f} µs"
               if dep else "")
        size = (f"{dep['merged_bytes']:,} vs {dep['plain_int2_bytes']:,} / {dep['plain_int3_bytes']:,} / "
                f"{dep['plain_int4_bytes']:,}" if dep else "")
        rows.append(f"| {name} | {m['fp32']:.2f} | " + " | ".join(cells) + f" | {m['int2']['gain_points']:+.2f} | "
                    f"{lat} | {size} |")
    g = d["goals"][chosen]
    rows += ["", f"Goals on test with `{chosen}` ({', '.join(g['goal_models'])}): "
             + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in g["met"].items())
             + "; over every model: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in g["met_all_models"].items())
             + f". Merged INT2 within 1.05x of plain INT2's p50: {'met' if d.get('merged_goal_met') else 'NOT met'}.",
             "", "Every quantiser, INT2 SplitQuant accuracy, validation / test half (the choice read only the first):", "",
             "| quantiser | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    quantisers = list(next(iter(models.values()))["val"]["schemes"])
    for q in quantisers:
        cells = [f"{m['val']['schemes'][q]['int2']['splitquant']:.2f} / {m['test']['schemes'][q]['int2']['splitquant']:.2f}"
                 for m in models.values()]
        rows.append(f"| `{q}`{' (chosen)' if q == chosen else ''} | " + " | ".join(cells) + " |")
    rows.append("| FP32 | " + " | ".join(f"{m['val']['fp32']:.2f} / {m['test']['fp32']:.2f}" for m in models.values())
                + " |")
    return "\n".join(rows)


def _splitquant_old(d: dict, models: dict) -> str:
    others = [q for q in ("mse_bc", "awmse") if any(q in m for m in models.values())]
    rows = ["| model | FP32 | INT8 plain / split | INT4 plain / split | INT2 plain / split | INT2 gain | "
            + " | ".join(f"INT2 plain / split, `{q}`" for q in others) + " |",
            "|---|---|---|---|---|---|" + "---|" * len(others)]
    for name, m in models.items():
        cells = [f"{m[b]['plain']:.2f} / {m[b]['splitquant']:.2f}" for b in ("int8", "int4", "int2")]
        extra = [f"{m[q]['int2']['plain']:.2f} / {m[q]['int2']['splitquant']:.2f}" if q in m else "" for q in others]
        rows.append(f"| {name} | {m['fp32']:.2f} | " + " | ".join(cells) + f" | {m['int2']['gain_points']:+.2f} | "
                    + " | ".join(extra) + " |")
    return "\n".join(rows)


def snn(d: dict) -> str:
    rows = ["| figure | value |", "|---|---|"]
    for key, label, fmt in (
        ("dnn_accuracy", "DNN accuracy (held-out subjects)", "{:.2f}%"),
        ("snn_float_accuracy", "float SNN, T=256", "{:.2f}%"),
        ("snn_fixed_accuracy", "Loihi fixed-point SNN, T=256", "{:.2f}%"),
        ("snn_fixed_accuracy_t64", "Loihi fixed-point SNN, T=64", "{:.2f}%"),
        ("loihi1_cores", "Loihi 1 cores (Massa et al.: 37)", "{}"),
        ("loihi2_cores", "Loihi 2 cores", "{}"),
        ("loihi1_cores_small", "core-budget variant: Loihi 1 cores", "{}"),
        ("snn_fixed_accuracy_small", "core-budget variant: fixed-point SNN, T=256", "{:.2f}%"),
        ("dnn_accuracy_small", "core-budget variant: its DNN", "{:.2f}%"),
        ("spike_mismatches", "spike mismatches, snn-fast vs Lava", "{}"),
        ("spikes_compared", "spikes compared", "{:,}"),
        ("fast_vs_lava_speedup", "snn-fast vs Lava, samples/s", "{:.0f}x"),
        ("synops_per_sample", "synaptic ops per sample", "{:,.0f}"),
        ("energy_uj_per_sample", "energy estimate per sample", "{:.1f} µJ"),
        ("sdnn_delta_threshold", "sigma-delta: delta threshold (chosen on validation)", "{}"),
        ("sdnn_accuracy", "sigma-delta accuracy (frame streams, test half)", "{:.2f}%"),
        ("sdnn_dnn_accuracy", "sigma-delta: the DNN on the same test half", "{:.2f}%"),
        ("sdnn_minus_dnn_points", "sigma-delta minus DNN (goal: within 0.5)", "{:+.2f} points"),
        ("sdnn_synops_per_frame", "sigma-delta synaptic ops per frame", "{:,.0f}"),
        ("sdnn_messages_per_frame", "sigma-delta messages per frame", "{:,.0f}"),
        ("sdnn_loihi2_cores", "sigma-delta Loihi 2 cores", "{}"),
        ("sdnn_message_mismatches", "graded-message mismatches, snn-fast vs Lava", "{}"),
        ("sdnn_messages_compared", "non-zero messages compared", "{:,}"),
        ("sdnn_fast_vs_lava_speedup", "sigma-delta snn-fast vs Lava", "{:.0f}x"),
    ):
        if d.get(key) is not None:
            rows.append(f"| {label} | {fmt.format(d[key])} |")
    if d.get("sdnn_synops_per_frame"):
        # rate coding on the same test half where it was run there (the sigma-delta rows' frames)
        rate = (d.get("rate_coded_synops_accuracy") or {}).get("256", [d["synops_per_sample"]])[0]
        rows.append(f"| synaptic ops, rate-coded T=256 / sigma-delta (same frames) | "
                    f"{rate / d['sdnn_synops_per_frame']:.1f}x |")
        rows.append(f"| sigma-delta energy estimate per frame (same 23.6 pJ/op) | "
                    f"{d['sdnn_synops_per_frame'] * 23.6e-6:.1f} µJ |")
    for key, label in (("nir_sinabs_agreement", "NIR in sinabs 3.1.3: argmax agreement, matched settings"),
                       ("nir_sinabs_agreement_own_settings", "NIR in sinabs 3.1.3: agreement, our own settings")):
        if d.get(key):
            rows.append(f"| {label} | " + ", ".join(f"{k} {v:.0f}%" for k, v in d[key].items()) + " |")
    for u in d.get("partial_updates", []):
        what = ("the sigma-delta rows (`--only sdnn`)" if any(k.startswith("sdnn") for k in u["keys"])
                else "the core-budget rows (`--only small`)" if "loihi1_cores_small" in u["keys"]
                else ", ".join(u["keys"]))
        rows.append(f"\n_Rerun alone with `benchmarks/snn.py`: {what}, commit `{u['git_commit'][:12]}`, "
                    f"{u['generated_at']}._")
    return "\n".join(rows)


def mcu(d: dict) -> str:
    rows = ["| figure | value |", "|---|---|"]
    for key, label, fmt in (
        ("bit_exact_host", "bit-exact with the integer reference, host build", "{}"),
        ("bit_exact_qemu", "bit-exact with the integer reference, QEMU Cortex-M3", "{}"),
        ("samples", "test samples", "{}"),
        ("faults_injected", "link faults injected", "{}"),
        ("wrong_outputs_under_faults", "wrong outputs returned under faults", "{}"),
        ("flash_core_bytes", "firmware core flash (Cortex-M3, without model)", "{:,} B"),
        ("flash_model_bytes", "digits MLP blob", "{:,} B"),
        ("ram_bytes", "static RAM of the image", "{:,} B"),
        ("roundtrip_ms_p50_host", "round trip p50, host build on a pty", "{:.3f} ms"),
        ("roundtrip_ms_p50_qemu", "round trip p50, QEMU (emulator timing, not a chip's)", "{:.2f} ms"),
    ):
        if key in d:
            rows.append(f"| {label} | {fmt.format(d[key])} |")
    return "\n".join(rows)


def imu(d: dict) -> str:
    fams = d["families"]
    filters = ("madgwick", "mahony", "ekf", "vqf", "fusion")
    rows = ["| family | model, family unseen | model, in family | core only | RIANN | "
            + " | ".join(f"{n} (tuned)" for n in filters) + " | unseen / best filter (90% CI) | in family / best |",
            "|---|---|---|---|---|" + "---|" * len(filters) + "---|---|"]
    for name, f in fams.items():
        cells = [f"**{f[n]:.2f}°**" if n == f["best_tuned_filter_name"] else f"{f[n]:.2f}°" for n in filters]
        rows.append(f"| {name} | {f['model']:.2f}° | {f['model_in_family']:.2f}° | {f['model_core_only']:.2f}° | "
                    f"{f['riann']:.2f}° | " + " | ".join(cells) + f" | {f['ratio_unseen']:.2f} "
                    f"({f['ratio_unseen_90ci'][0]:.2f}-{f['ratio_unseen_90ci'][1]:.2f}) | {f['ratio_in_family']:.2f} |")
    g = d["goals"]
    yes = {True: "met", False: "**not met**"}
    rows.append("")
    rows.append(f"Goals: unseen <= 1.0x the best tuned filter on every family: {yes[g['never_worse_unseen']['met']]}; "
                f"median unseen ratio {g['better_unseen_median']['value']:.2f} (goal 0.8: "
                f"{yes[g['better_unseen_median']['met']]}); median in-family ratio {g['in_family_median']['value']:.3f} "
                f"(goal 0.5: {yes[g['in_family_median']['met']]}); below RIANN on every family: "
                f"{yes[g['beats_riann']['met']]}. One step: {d['model_step_p50_us']:.1f} µs p50 against RIANN's "
                f"{d['riann_step_p50_us']:.1f} µs, interleaved in one run ({g['latency']['value']:.2f}x: "
                f"{yes[g['latency']['met']]}); a 120 s recording at 200 Hz in {d['recording_120s_seconds']:.2f} s "
                f"({yes[g['recording']['met']]}). `make bench`'s IMU part took {d['benchmark_seconds'] / 60:.1f} min "
                f"({d['training_seconds_this_run'] / 60:.1f} min of it training).")
    return "\n".join(rows)


def imu_foreign(d: dict) -> str:
    filters = ("madgwick", "mahony", "ekf", "vqf", "fusion")
    rows = ["| kind | mean \\|ω\\| | model (shipped) | RIANN | " + " | ".join(f"{n} (tuned)" for n in filters)
            + " | best at library defaults | model / best tuned (chosen on validation) |",
            "|---|---|---|---|" + "---|" * len(filters) + "---|---|"]
    for name, k in d["kinds"].items():
        cells = [f"**{k[n]:.2f}°**" if n == k["best_filter_on_validation"] else f"{k[n]:.2f}°" for n in filters]
        rows.append(f"| {name} | {k['mean_rate_rad_s']:.1f} rad/s | {k['model']:.2f}° | {k['riann']:.2f}° | "
                    + " | ".join(cells) + f" | {min(k['defaults'].values()):.2f}° | {k['ratio_to_best_tuned']:.2f} |")
    return "\n".join(rows)


def _interval(r: dict) -> str:
    lo_hi = r.get("adapted_ratio_90pct")
    return f" ({lo_hi[0]:.2f}-{lo_hi[1]:.2f})" if lo_hi else ""


def imu_adapt(d: dict) -> str:
    """Both halves of ``imu_adapt.py`` (``--only foreign`` and ``--only families``), each with its stamp."""
    rows = ["| data | kind / family | model (as is) | model adapted on validation (method chosen) | best tuned filter "
            "| model / best tuned | adapted / best tuned (90% interval) |", "|---|---|---|---|---|---|---|"]
    stamps = []
    for part in ("families", "foreign"):
        part_data = _load(f"imu_adapt_{part}")
        if part_data is None:
            continue
        stamps.append(f"`imu_adapt_{part}.json` at `{part_data['git_commit'][:12]}`, {part_data['generated_at']}")
        for name, r in part_data["rows"].items():
            label = "ours, in family" if part == "families" else "independent generator"
            rows.append(f"| {label} | {name} | {r['model']:.3f}° | {r['model_adapted']:.3f}° ({r['method']}) | "
                        f"{r['best_tuned_filter']:.3f}° ({r['best_filter_on_validation']}) | "
                        f"{r['ratio_to_best_tuned']:.2f} | **{r['adapted_ratio_to_best_tuned']:.2f}**{_interval(r)} |")
    return "\n".join(rows) + "\n\n_From " + "; ".join(stamps) + "._"


def sweep(d: dict) -> str:
    rows = ["| figure | value |", "|---|---|"]
    for key, label in (("points", "points"), ("failed", "failed"), ("serial_s", "serial wall time (s, mean of two runs)"),
                       ("parallel_s", "parallel wall time (s, mean of two runs)"), ("speedup_vs_serial", "speedup vs serial"),
                       ("latency_drift_vs_serial_relative",
                        "**largest p50 drift, parallel vs serial, relative to the probe** (best of two runs each)"),
                       ("latency_noise_serial_vs_serial_relative",
                        "**noise floor relative to the probe**: largest change between two serial runs"),
                       ("latency_drift_single_run_relative", "relative drift, one run each"),
                       ("latency_drift_vs_serial_relative_p10", "p10 ratio: drift, parallel vs serial (best of two runs each)"),
                       ("latency_noise_serial_vs_serial_relative_p10", "p10 ratio: noise floor between two serial runs"),
                       ("latency_drift_vs_serial_relative_onnxruntime_points", "relative drift, onnxruntime points only"),
                       ("latency_noise_serial_vs_serial_relative_onnxruntime_points",
                        "relative noise floor, onnxruntime points only"),
                       ("latency_drift_vs_serial", "raw p50 drift, parallel vs serial (best of two runs each)"),
                       ("latency_drift_single_run", "raw, one run each"),
                       ("latency_drift_single_run_onnxruntime_points", "raw, one run each, onnxruntime points only"),
                       ("latency_noise_serial_vs_serial", "raw noise floor: largest p50 change between two serial runs"),
                       ("latency_noise_serial_vs_serial_onnxruntime_points", "the same, onnxruntime points only"),
                       ("ray_matches_local", "Ray accuracies identical to local"),
                       ("resume_missing_points", "resume: points missing after the kill"),
                       ("resume_reran_points", "resume: points rerun")):
        if key in d:
            v = d[key]
            rows.append(f"| {label} | {f'{v * 100:.1f}%' if key.startswith('latency_') else v} |")
    slot = d.get("slot_isolation")
    if slot:
        rows.append(f"| with `bench.isolation = \"slot\"` (compiles beside benchmarks): speedup | {slot['speedup_vs_serial']} |")
        if "latency_drift_single_run_relative" in slot:
            rows.append(f"| with `bench.isolation = \"slot\"`: relative drift, one run | "
                        f"{slot['latency_drift_single_run_relative'] * 100:.1f}% |")
        if "latency_drift_single_run_relative_p10" in slot:
            rows.append(f"| with `bench.isolation = \"slot\"`: p10 ratio drift, one run | "
                        f"{slot['latency_drift_single_run_relative_p10'] * 100:.1f}% |")
        rows.append(f"| with `bench.isolation = \"slot\"`: raw p50 drift, one run | {slot['latency_drift_single_run'] * 100:.1f}% |")
    probes = d.get("probes")
    if probes:
        rows.append(f"| probes: points probed / re-measured / still unsteady / sharing a neighbour's probe | "
                    f"{probes['points_probed']} / {probes['points_remeasured']} / {probes['points_still_unsteady']} / "
                    f"{probes['points_shared_before']} |")
        rows.append(f"| probes: time spent, all runs (s) | {probes['probe_seconds_total']} |")
        if "points_measured_in_slow_spell" in probes:
            rows.append(f"| points measured in a host slow spell (probe > 15% slower than usual), all runs | "
                        f"{probes['points_measured_in_slow_spell']} |")
    rows.append(f"\nGrid: `{' '.join('--grid ' + g for g in d.get('grid', []))}` on `{d.get('config')}`.")
    return "\n".join(rows)


def gesture_deploy(d: dict) -> str:
    acc, lat, trt = d["accuracy"], d["latency"], d["tensorrt"]
    variants = lat["variants"]
    rows = ["| path | top-1 on held-out frames | p50 at batch 1 |", "|---|---|---|",
            f"| torch eager (1 thread) | {acc['torch_accuracy_%']:.2f}% | {d['torch_p50_ms'] * 1000:.0f} µs |"]
    for key, label in (("onnxruntime_1thread", "onnxruntime, 1 thread"), ("onnxruntime_2threads", "onnxruntime, 2 threads")):
        if key in variants:
            rows.append(f"| {label} | {acc['onnxruntime_accuracy_%']:.2f}% | {variants[key]['p50_ms'] * 1000:.0f} µs |")
    jet = d.get("jetson_loopback") or {}
    if jet.get("ran"):
        rows.append(f"| jetson:// over a loopback sshd (onnxruntime on the \"board\") | outputs = local "
                    f"(max diff {jet['max_abs_diff_vs_local']:.1g}) | {jet['p50_ms'] * 1000:.0f} µs |")
    if "int8_qcdq_onnxruntime_accuracy_%" in trt:
        rows.append(f"| INT8 QCDQ ONNX (what TensorRT INT8 gets), in onnxruntime | "
                    f"{trt['int8_qcdq_onnxruntime_accuracy_%']:.2f}% | |")
    rows.append("")
    rows.append(f"onnxruntime vs torch: {acc['top1_disagreements']} top-1 disagreements in {acc['n_test_frames']} "
                f"frames, {lat['speedup_vs_torch_best']:.1f}x faster. TensorRT: "
                + ("built and run" if trt.get("tensorrt_available") else f"not run here ({trt['reason'].split(':')[0]})")
                + ".")
    return "\n".join(rows)


TABLES: dict[str, Callable[[dict], str]] = {
    "foundation": foundation, "splitquant": splitquant, "snn": snn, "mcu": mcu, "imu": imu, "sweep": sweep,
    "gesture_deploy": gesture_deploy, "imu_foreign": imu_foreign, "imu_adapt": imu_adapt,
}
OWN_STAMP = {"imu_adapt"}  # tables that stamp their own sources (two JSON files)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", help="comma-separated table names (default: all)")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(TABLES)
    readme = REPO / "README.md"
    text = readme.read_text()
    for name, fn in TABLES.items():
        if name not in names:
            continue
        data = _load(name) if name not in OWN_STAMP else {}
        pattern = re.compile(rf"(<!-- {name}-table -->).*?(<!-- /{name}-table -->)", re.S)
        if data is None or not pattern.search(text):
            continue
        body = fn(data) + ("" if name in OWN_STAMP else _stamp(data).format(name=name))
        text = pattern.sub(lambda m, body=body: m.group(1) + "\n" + body + "\n" + m.group(2), text)
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(readme)
    print("README tables regenerated from benchmarks/results/*.json")


if __name__ == "__main__":
    main()
