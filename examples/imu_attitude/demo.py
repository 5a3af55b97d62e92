"""IMU attitude demo: train briefly, compare with tuned classical filters, export to ONNX, benchmark, and run
the jetson target against a loopback sshd (onnxruntime as the "board" backend).

    .venv/bin/python examples/imu_attitude/demo.py [--steps 30]

Small on purpose (~2 minutes on 2 cores): a short training run (cached under .cache/imu_attitude/), two
validation and two test sequences of 20 s. ``benchmarks/imu.py`` is the full comparison.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from neuroedge.bench import BenchConfig  # noqa: E402
from neuroedge.imu.evaluate import latency, score_filters, score_model, tune_all  # noqa: E402
from neuroedge.imu.families import ImuConfig, generate_split  # noqa: E402
from neuroedge.imu.train import TrainConfig, load_or_train  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="training steps (cached per setting)")
    args = parser.parse_args(argv)
    console = Console()

    # Brief on purpose; benchmarks/imu.py uses the full TrainConfig() (cached separately, by its settings).
    config = TrainConfig(steps=args.steps, batch=8, duration_s=20.0, n_val=2, val_duration_s=20.0)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("training the streaming model", total=config.steps)
        model, meta = load_or_train(config, progress=lambda r: bar.update(task, completed=r["step"]))
    console.log(f"model: {meta['steps']} training steps ({meta['weights']})")

    base = replace(ImuConfig(), duration_s=20.0)
    val, test = generate_split("val", 2, base), generate_split("test", 2, base)
    names = ("madgwick", "vqf", "fusion")  # the ahrs Mahony/EKF are slow in pure Python; the benchmark has them
    with console.status("tuning Madgwick, VQF and Fusion on the validation split"):
        tuned = tune_all(val, names)
    with console.status("scoring on held-out test sequences"):
        filters = score_filters(test, tuned)
        mine = score_model(model, test)

    table = Table(title="mean tilt error (°), held-out disturbed sequences")
    for col in ("method", "default", "tuned"):
        table.add_column(col)
    for n, v in filters.items():
        table.add_row(n, f"{v['default']['tilt_deg']:.2f}", f"{v['tuned']['tilt_deg']:.2f}")
    table.add_row("model (streaming)", "", f"{mine['tilt_deg']:.2f}")
    console.print(table)

    with console.status("exporting to ONNX and timing one streaming step (onnxruntime vs torch)"):
        lat = latency(model, ROOT / ".cache" / "imu_attitude" / "demo-bundle",
                      BenchConfig(iterations=2000, warmup=200, min_duration_s=0.5, progress=False))
    console.print(f"latency per call, batch 1: onnxruntime p50 {lat['onnxruntime'].p50_ms * 1000:.1f} µs, "
                  f"torch eager p50 {lat['torch'].p50_ms * 1000:.1f} µs")

    from neuroedge.targets.jetson.loopback import loopback_sshd, missing
    from neuroedge.registry import open_runner

    why = missing()
    if why:
        console.print(f"[yellow]jetson target skipped: {why}")
        return
    with console.status("jetson target over SSH to a loopback sshd (onnxruntime as the board backend)"):
        with loopback_sshd() as options:
            runner = open_runner(lat["bundle"], "jetson",
                                 {**options, "remote_python": sys.executable, "backend": "onnxruntime"})
            from neuroedge.imu.export import example_inputs

            try:
                report = runner.benchmark([a.numpy() for a in example_inputs(model)],
                                          BenchConfig(iterations=500, min_duration_s=0.5))
            finally:
                runner.close()  # ends the shared SSH connection and the runner on the "board"
    console.print(f"jetson://{options['url'].split('://')[1]}: backend {report.target}, "
                  f"p50 {report.p50_ms * 1000:.1f} µs; board clocks locked: {report.host.get('clocks_locked')} "
                  "(None: not a Jetson)")


if __name__ == "__main__":
    main()
