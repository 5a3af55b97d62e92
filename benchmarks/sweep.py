"""Sweep benchmark: serial vs parallel vs Ray on one grid, plus a resume after a kill.

    .venv/bin/python benchmarks/sweep.py

Writes benchmarks/results/sweep.json and sweep_pareto.png. The grid is the digits MLP through
SplitQuant (bits x split x target) when the splitquant converter is installed, else export-onnx
variants. Benchmarks are serialised by the per-node bench slot, so the parallel speedup comes from
compiling and evaluating in parallel; latency drift compares each point's p50 with the serial run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.chdir(REPO)

from examples.digits.train import ensure_trained  # noqa: E402
from neuroedge import registry  # noqa: E402
from neuroedge.pipeline import load_config  # noqa: E402
from neuroedge.results import RESULTS_DIR, write_results  # noqa: E402
from neuroedge.sweep import parse_grid, read_results, sweep  # noqa: E402

SPLITQUANT_CONFIG = REPO / "examples" / "sweep" / "digits_splitquant.toml"
SPLITQUANT_GRID = ["splitquant.bits=2,4,8", "splitquant.split=true,false", "target=onnxruntime,torch"]
FALLBACK_CONFIG = REPO / "examples" / "sweep" / "digits_export.toml"
FALLBACK_GRID = ["target=onnxruntime,torch", "export-onnx.opset=17,18", "export-onnx.dynamic_batch=true,false"]


def choose() -> tuple[Path, list[str]]:
    try:
        registry.get_converter("splitquant")
        if SPLITQUANT_CONFIG.is_file():
            return SPLITQUANT_CONFIG, SPLITQUANT_GRID
    except registry.RegistryError:
        pass
    return FALLBACK_CONFIG, FALLBACK_GRID


def main() -> None:
    ensure_trained("digits_mlp", REPO / ".cache" / "digits")
    cfg_path, grid_args = choose()
    config = load_config(cfg_path)
    grid = parse_grid(grid_args)
    tmp = Path(tempfile.mkdtemp(prefix="neuroedge-sweep-bench-"))
    locks = tmp / "locks"
    try:
        print(f"grid {grid_args} on {cfg_path.name}", flush=True)
        t0 = time.time()
        serial = sweep(config, grid, tmp / "serial", workers=1, lock_dir=locks)
        serial_s = time.time() - t0
        # The noise floor: the same serial sweep again. Drift is only meaningful above it.
        serial2 = sweep(config, grid, tmp / "serial2", workers=1, lock_dir=locks)
        t0 = time.time()
        parallel = sweep(config, grid, tmp / "parallel", workers=os.cpu_count() or 2, lock_dir=locks)
        parallel_s = time.time() - t0
        try:
            import ray  # noqa: F401

            ray_run = sweep(config, grid, tmp / "ray", backend="ray",
                            ray_init={"num_cpus": os.cpu_count() or 2, "resources": {"bench": 1, "mcu": 1}})
            ray_acc = {k: r.get("accuracy") for k, r in ray_run["records"].items()}
            ray_matches = ray_acc == {k: r.get("accuracy") for k, r in serial["records"].items()}
        except ImportError:
            ray_matches = None
            print("Ray is not installed (pip install 'neuroedge[ray]'): ray_matches_local is null")

        # Resume: start the CLI, kill it after two points, rerun.
        out = tmp / "resume"
        args = [sys.executable, "-m", "neuroedge.cli", "sweep", str(cfg_path), "-o", str(out), "--workers", "1"]
        for g in grid_args:
            args += ["--grid", g]
        proc = subprocess.Popen(args, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            if (out / "results.jsonl").exists() and len((out / "results.jsonl").read_text().splitlines()) >= 2:
                break
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        n_points = len(serial["points"])
        missing = n_points - len(read_results(out))
        rerun = sweep(config, grid, out, workers=os.cpu_count() or 2, lock_dir=locks)

        def max_drift(run: dict, only: str | None = None) -> float:
            worst = 0.0
            for key, rec in run["records"].items():
                base = serial["records"][key].get("p50_ms")
                if only and rec["overrides"].get("target") != only:
                    continue
                if base and rec.get("p50_ms"):
                    worst = max(worst, abs(rec["p50_ms"] - base) / base)
            return worst

        drift = max_drift(parallel)
        failed = sum(r["status"] != "ok" for r in parallel["records"].values())
        data = {
            "points": n_points,
            "failed": failed,
            "backend": "local",
            "workers": os.cpu_count() or 2,
            "grid": grid_args,
            "config": str(cfg_path.relative_to(REPO)),
            "serial_s": round(serial_s, 2),
            "parallel_s": round(parallel_s, 2),
            "speedup_vs_serial": round(serial_s / parallel_s, 3),
            "latency_drift_vs_serial": round(drift, 4),
            "latency_drift_vs_serial_onnxruntime_points": round(max_drift(parallel, "onnxruntime"), 4),
            "latency_noise_serial_vs_serial": round(max_drift(serial2), 4),
            "latency_noise_serial_vs_serial_onnxruntime_points": round(max_drift(serial2, "onnxruntime"), 4),
            "ray_matches_local": ray_matches,
            "resume_missing_points": missing,
            "resume_reran_points": len(rerun["ran"]),
            "table": [
                {"overrides": r["overrides"], "accuracy": r.get("accuracy"), "p50_ms_serial":
                 serial["records"][k].get("p50_ms"), "p50_ms_parallel": r.get("p50_ms"),
                 "model_bytes": r.get("model_bytes"), "status": r["status"]}
                for k, r in parallel["records"].items()
            ],
        }
        path = write_results("sweep", data)
        shutil.copy(tmp / "parallel" / "pareto.png", RESULTS_DIR / "sweep_pareto.png")
        shutil.copy(tmp / "parallel" / "report.md", RESULTS_DIR / "sweep_report.md")
        print(f"serial {serial_s:.1f} s, parallel {parallel_s:.1f} s: {serial_s / parallel_s:.2f}x; "
              f"max p50 drift {drift * 100:.1f}% (serial vs serial: {max_drift(serial2) * 100:.1f}%); ray matches local: {ray_matches}; "
              f"resume: {missing} missing, {len(rerun['ran'])} rerun -> {path}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
