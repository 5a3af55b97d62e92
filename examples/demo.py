"""`make demo`: every pipeline end to end on the built-in defaults (simulators and emulators).

    .venv/bin/python examples/demo.py [--only foundation,splitquant,...]

Stage 1 (foundation) trains the digits models, compiles them to ONNX and benchmarks them on
onnxruntime and on torch eager. Each later stage is its area's own demo script, run in turn.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# name -> script, in the order a user would meet them; a stage whose script is absent is skipped.
STAGES = {
    "splitquant": "examples/splitquant/demo.py",
    "snn": "examples/gesture_snn/demo.py",
    "mcu": "examples/mcu/demo.py",
    "imu": "examples/imu_attitude/demo.py",
    "sweep": "examples/sweep/demo.py",
}


def foundation() -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from examples.digits.models import INPUT_SHAPES
    from examples.digits.train import ensure_trained
    from neuroedge.bench import BenchConfig
    from neuroedge.pipeline import compile_pipeline, load_config

    console = Console()
    table = Table(title="digits models, batch 1, p50 latency (same thread count)")
    for col in ("model", "accuracy", "onnxruntime", "torch eager", "speedup", "ONNX max |err|"):
        table.add_column(col, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in (("digits_cnn", "examples/digits/pipeline.toml"), ("digits_mlp", "examples/digits/mlp.toml")):
            with console.status(f"[bold]{name}: training (cached after the first run), exporting, benchmarking"):
                ensure_trained(name, REPO / ".cache" / "digits")
                res = compile_pipeline(load_config(REPO / cfg), Path(tmp) / name)
                from neuroedge.bundle import load
                from neuroedge.registry import open_runner

                torch_runner = open_runner(load(res["bundle"]), "torch")
                x = np.random.default_rng(0).random(INPUT_SHAPES[name], dtype=np.float32)
                t = torch_runner.benchmark([x], BenchConfig(iterations=2000, warmup=200, progress=False))
            ort_us = res["latency"]["latency_ms"]["p50"] * 1000
            torch_us = t.p50_ms * 1000
            table.add_row(name, f"{res['accuracy']:.2f}%", f"{ort_us:.1f} µs", f"{torch_us:.1f} µs",
                          f"{torch_us / ort_us:.1f}x", f"{res['metrics']['onnx_max_abs_error']:.1e}")
            console.print(f"[green]✓[/] {name}: compiled and benchmarked")
    console.print(table)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated stages: foundation," + ",".join(STAGES))
    args = ap.parse_args()
    wanted = set(args.only.split(",")) if args.only else {"foundation", *STAGES}
    failed = []
    t0 = time.time()
    if "foundation" in wanted:
        print("== stage 1: foundation (ONNX export, onnxruntime vs torch eager)", flush=True)
        foundation()
    for i, (name, script) in enumerate(STAGES.items(), start=2):
        if name not in wanted:
            continue
        print(f"\n== stage {i}: {name} ({script})", flush=True)
        if not (REPO / script).is_file():
            print(f"   skipped: {script} is not in this checkout")
            continue
        rc = subprocess.call([sys.executable, str(REPO / script)], cwd=REPO)
        if rc != 0:
            failed.append(name)
            print(f"   stage {name} failed with exit code {rc}")
    print(f"\ndemo finished in {time.time() - t0:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
