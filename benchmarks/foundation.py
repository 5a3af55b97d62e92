"""Foundation benchmark: the onnxruntime target against a bare ORT loop and torch eager, batch 1.

    .venv/bin/python benchmarks/foundation.py [--rounds 5] [--iterations 3000]

Writes benchmarks/results/foundation.json and foundation.png. The machine is shared and noisy, so
the three variants run interleaved, in rounds (``neuroedge.bench.interleaved_rounds``), and each p50
is over all of its rounds' samples; ``p50_spread_pct`` is the spread of the round p50s (MAD, % of the
p50), the harness's own noise estimate. All three use the same thread count (the target's choice for
the model: 1 for these small ones).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

# OpenMP threads that torch leaves spinning after its round slow down whichever variant runs next
# (measured: the onnxruntime target at 15.3 µs right after torch's round, 11.9 µs with passive waiting,
# on the digits CNN). Set before torch loads; one intra-op thread either way, so torch's own speed is unchanged.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from common import (  # noqa: E402
    RESULTS_DIR,
    compare_interleaved,
    example,
    pyplot,
    round_summary,
    save_figure,
    write_results,
)

from neuroedge import registry
from neuroedge.bench import BenchConfig, harness_overhead_us, host_info
from neuroedge.registry import open_runner
from neuroedge.targets.onnxruntime import bind_for_benchmark, session_options


def bare_loop(onnx_path: Path, threads: int, x: np.ndarray, iterations: int, warmup: int) -> np.ndarray:
    """The same call the target makes (run_with_iobinding, same options), in a hand-written loop."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), session_options(threads), providers=["CPUExecutionProvider"])
    binding, _ = bind_for_benchmark(sess, [x])
    run = sess.run_with_iobinding
    clock = time.perf_counter_ns
    for _ in range(warmup):
        run(binding)
    out = np.empty(iterations, dtype=np.int64)
    for i in range(iterations):
        t0 = clock()
        run(binding)
        out[i] = clock() - t0
    return out / 1e6


def bench_model(name: str, workdir: Path, rounds: int, iterations: int) -> dict:
    shapes = example("examples.digits.models:INPUT_SHAPES")
    weights = example("examples.digits.train:ensure_trained")(name, Path(".cache") / "digits")
    bundle = registry.get_converter("export-onnx")(
        f"examples.digits.models:{name}", {"input_shape": list(shapes[name]), "weights": str(weights)},
        workdir / name, True)
    x = np.random.default_rng(0).random(shapes[name], dtype=np.float32)
    ort_runner = open_runner(bundle, "onnxruntime")
    torch_runner = open_runner(bundle, "torch", {"threads": ort_runner.threads})
    # One round per call: the rounds are interleaved across the three variants below.
    cfg = BenchConfig(iterations=iterations, warmup=200, min_duration_s=0.0, progress=False, rounds=1)
    reports = compare_interleaved({
        "onnxruntime": lambda: ort_runner.benchmark([x], cfg),
        "bare": lambda: bare_loop(bundle.main_file, ort_runner.threads, x, iterations, 200),
        "torch": lambda: torch_runner.benchmark([x], cfg),
    }, rounds)
    p50 = {k: r.p50_ms for k, r in reports.items()}
    ort = reports["onnxruntime"]
    return {
        "onnxruntime_p50_ms": p50["onnxruntime"],
        "bare_onnxruntime_p50_ms": p50["bare"],
        "torch_p50_ms": p50["torch"],
        "speedup_vs_torch": p50["torch"] / p50["onnxruntime"],
        "target_minus_bare_us": (p50["onnxruntime"] - p50["bare"]) * 1000,
        "target_vs_bare_ratio": p50["onnxruntime"] / p50["bare"],
        "p50_spread_pct": ort.p50_spread_pct,
        "unstable": ort.unstable,
        "rounds_by_variant": {k: round_summary(r) for k, r in reports.items()},
        "threads": ort_runner.threads,
        "onnxruntime_settings": ort_runner.settings(),
        "torch_settings": torch_runner.settings(),
        "onnxruntime_report": ort.to_json(include_samples=False),
        "max_abs_diff_ort_vs_torch": float(np.abs(ort_runner.run([x])[0] - torch_runner.run([x])[0]).max()),
    }


def plot(models: dict, path: Path) -> None:
    plt = pyplot()
    names = list(models)
    keys = [("torch_p50_ms", "torch eager"), ("bare_onnxruntime_p50_ms", "bare ORT loop"),
            ("onnxruntime_p50_ms", "neuroedge onnxruntime")]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.25
    for i, (key, label) in enumerate(keys):
        vals = [models[n][key] * 1000 for n in names]
        bars = ax.bar(np.arange(len(names)) + (i - 1) * width, vals, width, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(np.arange(len(names)), [f"{n}\n{models[n]['speedup_vs_torch']:.1f}x vs torch" for n in names])
    ax.set_ylabel("p50 latency, batch 1 (µs)")
    ax.set_title("Batch-1 CPU latency (same threads, interleaved rounds)")
    ax.legend()
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=3000)
    args = ap.parse_args()
    models = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("digits_cnn", "digits_mlp"):
            print(f"benchmarking {name} ...", flush=True)
            models[name] = bench_model(name, Path(tmp), args.rounds, args.iterations)
    overhead = harness_overhead_us()
    cnn = models["digits_cnn"]
    for m in models.values():
        m["harness_overhead_us"] = overhead
    data = {
        "onnxruntime_p50_ms": cnn["onnxruntime_p50_ms"],
        "bare_onnxruntime_p50_ms": cnn["bare_onnxruntime_p50_ms"],
        "torch_p50_ms": cnn["torch_p50_ms"],
        "speedup_vs_torch": cnn["speedup_vs_torch"],
        "harness_overhead_us": overhead,
        "rounds": args.rounds,
        "iterations_per_round": args.iterations,
        "host": host_info(),
        "models": models,
    }
    path = write_results("foundation", data)
    plot(models, RESULTS_DIR / "foundation.png")
    print(f"{'model':12s} {'ORT target':>11s} {'bare ORT':>9s} {'torch':>9s} {'speedup':>8s} {'target-bare':>12s}"
          f" {'spread':>7s}")
    for name, m in models.items():
        print(f"{name:12s} {m['onnxruntime_p50_ms'] * 1000:9.2f}µs {m['bare_onnxruntime_p50_ms'] * 1000:7.2f}µs "
              f"{m['torch_p50_ms'] * 1000:7.2f}µs {m['speedup_vs_torch']:7.2f}x {m['target_minus_bare_us']:+10.2f}µs"
              f" {m['p50_spread_pct']:6.2f}%{'  (unstable)' if m['unstable'] else ''}")
    print(f"harness overhead: {overhead:.3f} µs/iteration -> {path}")


if __name__ == "__main__":
    main()
