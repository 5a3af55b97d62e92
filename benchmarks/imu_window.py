"""IMU attitude, WINDOW mode: the causal window model's tilt error and latency per call, next to the
streaming model and the tuned filters of ``benchmarks/results/imu.json``.

    .venv/bin/python benchmarks/imu_window.py     # writes benchmarks/results/imu_window.json and imu_window.png

* Models: two causal windows, 400 samples (2 s at 200 Hz, as the issue describes) and 1600 (8 s); see
  ``VARIANTS``. Each is trained once (cached) by ``examples/imu_attitude/window_train.py``.

* Data: the same held-out sets as ``benchmarks/imu.py`` (test seeds 200000+, 6 x 60 s at 200 Hz; 4 x 40 s
  at the unseen 100 Hz; 4 x 40 s with 4 m/s² disturbance), generated here with the same settings.
* Scoring: one window per label, at every ``EVERY``-th label after the same 5 s warm-up the streaming
  benchmark uses (the mean tilt error over a subsample of labels, for speed).
* Latency: one window at batch 1 through the onnxruntime target (IO binding) and torch eager (one thread,
  inference mode), in the same run.
* The streaming model's and the filters' numbers are read from ``imu.json`` (its ``git_commit`` and
  ``generated_at`` are copied, so the comparison names the run it used); they are not recomputed here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from examples.imu_attitude.window_export import example_inputs, export_window_bundle  # noqa: E402
from examples.imu_attitude.window_model import build_window_model  # noqa: E402
from examples.imu_attitude.window_train import WindowTrainConfig, load_or_train, score_windows  # noqa: E402
from neuroedge.bench import BenchConfig, time_callable  # noqa: E402
from neuroedge.data.imu import ImuConfig, generate_split  # noqa: E402
from neuroedge.registry import open_runner  # noqa: E402
from neuroedge.results import RESULTS_DIR, write_results  # noqa: E402

N_TEST, N_OOD = 6, 4  # as benchmarks/imu.py
TEST_S, OOD_S = 60.0, 40.0
EVERY = 10  # score every 10th label: 20 labels/s at 200 Hz, 10 at 100 Hz


def streaming_reference(path: Path) -> dict:
    """The streaming model's and tuned filters' figures from the last ``benchmarks/imu.py`` run."""
    if not path.is_file():
        return {"missing": f"{path} not found: run .venv/bin/python benchmarks/imu.py first"}
    ref = json.loads(path.read_text())
    sets = ref.get("sets", {})

    def per_set(name: str) -> dict:
        s = sets.get(name, {})
        flt = s.get("filters", {})
        tuned = {n: v["tuned"]["tilt_deg"] for n, v in flt.items()}
        best = min(tuned, key=tuned.get) if tuned else None
        return {"streaming_model_tilt_deg": s.get("model", {}).get("tilt_deg"),
                "best_tuned_filter": best, "best_tuned_filter_tilt_deg": tuned.get(best) if best else None,
                "tuned_filters_tilt_deg": tuned}

    return {"source": str(path.relative_to(ROOT)), "git_commit": ref.get("git_commit"),
            "generated_at": ref.get("generated_at"), "model_mode": ref.get("model_mode"),
            "model_latency_ms_p50": ref.get("model_latency_ms_p50"),
            "torch_latency_ms_p50": ref.get("torch_latency_ms_p50"),
            "sets": {n: per_set(n) for n in ("test", "ood_100hz", "ood_4ms2")}}


def latency(model: torch.nn.Module, bundle_dir: Path, config: BenchConfig) -> dict:
    """One window at batch 1: the onnxruntime target vs torch eager, in one run."""
    bundle = export_window_bundle(model, bundle_dir, force=True)
    imu, rate = example_inputs(model)
    runner = open_runner(bundle, "onnxruntime")
    ort_report = runner.benchmark([imu.numpy(), rate.numpy()], config)
    torch.set_num_threads(1)

    def torch_call() -> None:
        with torch.inference_mode():
            model(imu, rate)

    torch_report = time_callable(torch_call, config, target="torch-eager", settings={"threads": 1})
    return {"onnxruntime": ort_report, "torch": torch_report, "bundle": bundle}


def plot(seq, models: dict, madgwick_gain: float | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuroedge import quaternion as quat

    fig, ax = plt.subplots(figsize=(9, 4))
    if madgwick_gain is not None:
        from examples.imu_attitude.baselines import run_madgwick

        ax.plot(seq.t, quat.tilt_error_deg(run_madgwick(seq, gain=madgwick_gain), seq.q), lw=0.8,
                label=f"Madgwick (tuned, gain {madgwick_gain})")
    for model in models.values():
        labels = np.arange(model.window - 1, len(seq), 2)
        windows = np.lib.stride_tricks.sliding_window_view(
            np.concatenate([seq.acc, seq.gyr], 1).astype(np.float32), model.window, axis=0)
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(windows[labels - model.window + 1].transpose(0, 2, 1)))
            q = model(x, torch.full((len(labels), 1), float(seq.rate_hz))).double().numpy()
        ax.plot(seq.t[labels], quat.tilt_error_deg(q, seq.q[labels]), lw=0.8,
                label=f"window model ({model.window} samples = {model.window / seq.rate_hz:.1f} s)")
    ax2 = ax.twinx()
    ax2.fill_between(seq.t, np.linalg.norm(seq.meta["linear_acc_world"], axis=1), color="0.85", zorder=0)
    ax2.set_ylabel("|linear acceleration| (m/s²)", color="0.5")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("tilt error (°)")
    ax.set_title(f"window models, test seed {seq.meta['seed']} ({seq.rate_hz:.0f} Hz)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# The window models compared: the ~2 s window the issue describes, and a longer one the physics transport
# makes affordable. The primary (top-level keys) is the most accurate one that meets the latency goal.
VARIANTS = {
    "2s": WindowTrainConfig(window=400, block=16, physics_block=16),
    "8s": WindowTrainConfig(window=1600, block=64, physics_block=32),
}
LATENCY_GOAL_MS = 0.25


def evaluate_variant(name: str, config: WindowTrainConfig, sets: dict, console: Console) -> dict:
    with console.status(f"window model {name}: training (cached after the first run)"):
        model, meta = load_or_train(config)
    console.log(f"window model {name} ({config.window} samples): {meta['steps']} steps, "
                f"{meta['train_seconds']:.0f} s of training; {meta['weights']}")
    scores = {}
    for set_name, seqs in sets.items():
        with console.status(f"{name}: scoring on {set_name}"):
            scores[set_name] = score_windows(model, seqs, every=EVERY)
        console.log(f"{name} {set_name}: {scores[set_name]['tilt_deg']:.2f}°")
    physics = build_window_model(config.window, config.block, config.channels, config.hidden,
                                 config.physics_block).eval()
    with torch.no_grad():  # untrained heads: uniform block weights and no correction = the physics alone
        physics.correct[2].weight.zero_()
    physics_scores = {}
    for set_name, seqs in sets.items():
        with console.status(f"{name}: physics only (no learning) on {set_name}"):
            physics_scores[set_name] = score_windows(physics, seqs, every=EVERY)["tilt_deg"]
    console.log(f"{name} physics only (mean of gyro-transported accel): {physics_scores}")
    with console.status(f"{name}: latency, onnxruntime vs torch eager, batch 1, one window"):
        lat = latency(model, ROOT / ".cache" / "imu_attitude" / f"bundle-window-{config.window}",
                      BenchConfig(iterations=5000, warmup=500, min_duration_s=2.0, progress=False))
    ort_p50, torch_p50 = lat["onnxruntime"].p50_ms, lat["torch"].p50_ms
    console.log(f"{name}: onnxruntime p50 {ort_p50 * 1000:.1f} µs, torch eager {torch_p50 * 1000:.1f} µs")
    return {
        "model": model,
        "window_samples": config.window,
        "window_seconds_at_200hz": config.window / 200.0,
        "block_samples": config.block,
        "physics_block_samples": config.physics_block,
        "recurrent_steps": config.window // config.block,
        "model_tilt_error_deg": scores["test"]["tilt_deg"],
        "model_tilt_error_deg_ood_100hz": scores["ood_100hz"]["tilt_deg"],
        "model_tilt_error_deg_ood_4ms2": scores["ood_4ms2"]["tilt_deg"],
        "physics_only_tilt_error_deg": physics_scores,
        "model_latency_ms_p50": ort_p50,
        "torch_latency_ms_p50": torch_p50,
        "onnxruntime_speedup_vs_torch": torch_p50 / ort_p50,
        "goal_latency_met": bool(ort_p50 <= LATENCY_GOAL_MS and torch_p50 / ort_p50 >= 2.0),
        "sets": scores,
        "training": {"steps": meta["steps"], "steps_bound": meta.get("steps_bound"),
                     "seconds": meta["train_seconds"], "config": meta["config"]},
        "latency": {"onnxruntime": lat["onnxruntime"].to_json(include_samples=False),
                    "torch": lat["torch"].to_json(include_samples=False),
                    "onnx_max_abs_error": lat["bundle"].manifest.metrics.get("onnx_max_abs_error"),
                    "onnx_nodes": _count_nodes(lat["bundle"].main_file)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    args = parser.parse_args(argv)
    console = Console(width=150)  # the result table is wide
    t_start = time.perf_counter()
    base = ImuConfig()
    sets = {"test": generate_split("test", N_TEST, replace(base, duration_s=TEST_S)),
            "ood_100hz": generate_split("test", N_OOD, replace(base, duration_s=OOD_S, rate_hz=100.0)),
            "ood_4ms2": generate_split("test", N_OOD, replace(base, duration_s=OOD_S, disturbance_std=4.0))}
    results = {name: evaluate_variant(name, VARIANTS[name], sets, console) for name in args.variants.split(",")}

    meeting = [n for n, r in results.items() if r["goal_latency_met"]]
    primary = (min(meeting, key=lambda n: results[n]["model_tilt_error_deg"]) if meeting
               else min(results, key=lambda n: results[n]["model_latency_ms_p50"]))
    top = results[primary]
    ref = streaming_reference(RESULTS_DIR / "imu.json")
    ref_test = ref.get("sets", {}).get("test", {})
    best = ref_test.get("best_tuned_filter_tilt_deg")
    err = top["model_tilt_error_deg"]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    gain = None
    if ref_test.get("tuned_filters_tilt_deg", {}).get("madgwick") is not None:
        full = json.loads((RESULTS_DIR / "imu.json").read_text())
        gain = full["sets"]["test"]["filters"]["madgwick"]["tuned_params"]["gain"]
    plot(sets["test"][0], {n: r["model"] for n, r in results.items()}, gain, RESULTS_DIR / "imu_window.png")

    def public(r: dict) -> dict:
        return {k: v for k, v in r.items() if k != "model"}

    data = {
        "model_mode": "window",
        "primary_variant": primary,
        "primary_rule": f"the most accurate variant with p50 <= {LATENCY_GOAL_MS} ms and >= 2x torch eager; "
                        "if none, the fastest",
        **{k: v for k, v in public(top).items() if k not in ("sets", "training", "latency")},
        "streaming_model_tilt_error_deg": ref_test.get("streaming_model_tilt_deg"),
        "best_classical_tilt_error_deg": best,
        "best_classical_filter": ref_test.get("best_tuned_filter"),
        "model_vs_best_ratio": err / best if best else None,
        "goal_half_of_best_met": bool(best and err <= 0.5 * best),
        "scoring": {"every_nth_label": EVERY, "warmup_s": 5.0,
                    "note": "one window per scored label (every 10th label after 5 s); the streaming model "
                            "and filters in imu.json are scored on every label after the same 5 s"},
        "variants": {n: public(r) for n, r in results.items()},
        "data": {"test": f"{N_TEST} x {TEST_S:.0f} s, seeds 200000+", "ood_100hz": f"{N_OOD} x {OOD_S:.0f} s at 100 Hz",
                 "ood_4ms2": f"{N_OOD} x {OOD_S:.0f} s, 4 m/s²", "imu_config": dict(vars(base))},
        "streaming_reference": ref,
        "benchmark_seconds": time.perf_counter() - t_start,
    }
    path = write_results("imu_window", data)

    table = Table(title="IMU attitude, window mode: mean tilt error (°) on held-out sets; latency at batch 1")
    for col in ("method", "test", "100 Hz (OOD)", "4 m/s² (OOD)", "ORT p50 µs", "torch p50 µs"):
        table.add_column(col, justify="right" if col != "method" else "left")
    for n, r in results.items():
        table.add_row(f"window {n} ({r['window_samples']} samples)" + (" *" if n == primary else ""),
                      *(f"{r['sets'][k]['tilt_deg']:.2f}" for k in ("test", "ood_100hz", "ood_4ms2")),
                      f"{r['model_latency_ms_p50'] * 1000:.0f}", f"{r['torch_latency_ms_p50'] * 1000:.0f}")
    for n, r in results.items():
        table.add_row(f"  physics only, {n} (untrained: mean of transported accel)",
                      *(f"{r['physics_only_tilt_error_deg'][k]:.2f}" for k in ("test", "ood_100hz", "ood_4ms2")), "", "")
    rs = ref.get("sets", {})

    def cell(n: str, key: str) -> str:
        v = rs.get(n, {}).get(key)
        return f"{v:.2f}" if isinstance(v, (int, float)) else "-"

    lat_ref = ref.get("model_latency_ms_p50")
    table.add_row("streaming model (imu.json)", *(cell(n, "streaming_model_tilt_deg")
                                                  for n in ("test", "ood_100hz", "ood_4ms2")),
                  f"{lat_ref * 1000:.0f}" if lat_ref else "-",
                  f"{ref['torch_latency_ms_p50'] * 1000:.0f}" if ref.get("torch_latency_ms_p50") else "-")
    table.add_row("best tuned filter (imu.json)", *(
        f"{cell(n, 'best_tuned_filter_tilt_deg')} ({rs.get(n, {}).get('best_tuned_filter')})"
        for n in ("test", "ood_100hz", "ood_4ms2")), "", "")
    console.print(table)
    console.print(f"primary: window {primary}; * marks it. Reference: imu.json {ref.get('git_commit')} "
                  f"at {ref.get('generated_at')}")
    console.print(f"wrote {path}")


def _count_nodes(onnx_path: Path) -> int:
    import onnx

    return sum(1 for n in onnx.load(str(onnx_path)).graph.node if n.op_type != "Constant")


if __name__ == "__main__":
    main()
