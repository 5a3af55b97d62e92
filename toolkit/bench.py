"""Latency benchmark, modelled on trtexec and MLPerf single-stream.

The harness times a zero-argument callable, prepared by the runner so that the
timed region is exactly one inference (inputs already bound, outputs
preallocated). Warm-up first, then at least ``iterations`` calls and at least
``min_duration_s`` seconds. The inner loop is two ``perf_counter_ns`` calls and
one list append per iteration: its own cost is measured by timing a no-op and
reported as ``harness_overhead_us``.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class BenchConfig:
    iterations: int = 1000
    warmup: int = 100
    min_duration_s: float = 1.0
    batch: int = 1
    progress: bool | None = None  # None: a progress bar only on a terminal

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError("iterations must be >= 1")
        if self.warmup < 0:
            raise ValueError("warmup must be >= 0")
        if self.min_duration_s < 0:
            raise ValueError("min_duration_s must be >= 0")


@dataclass
class LatencyReport:
    target: str
    samples_ms: np.ndarray
    warmup_iterations: int
    batch: int = 1
    settings: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    # Where the clock ran: "host" (perf_counter around the call) or "device" (the device's own timer).
    clock: str = "host"

    @property
    def iterations(self) -> int:
        return int(self.samples_ms.size)

    def stats(self) -> dict[str, float]:
        s = self.samples_ms
        out = {"min": float(s.min()), "mean": float(s.mean())}
        for p, v in zip(PERCENTILES, np.percentile(s, PERCENTILES), strict=True):
            out[f"p{p}"] = float(v)
        out["max"] = float(s.max())
        return out

    @property
    def p50_ms(self) -> float:
        return float(np.percentile(self.samples_ms, 50))

    def to_json(self, include_samples: bool = True) -> dict[str, Any]:
        stats = self.stats()
        out = {
            "target": self.target,
            "latency_ms": stats,
            "throughput_per_s": self.batch * 1000.0 / stats["mean"] if stats["mean"] > 0 else float("inf"),
            "iterations": self.iterations,
            "warmup_iterations": self.warmup_iterations,
            "batch": self.batch,
            "clock": self.clock,
            "settings": self.settings,
            "host": self.host,
        }
        if include_samples:
            out["samples_ms"] = [round(float(x), 6) for x in self.samples_ms]
        return out


def host_info() -> dict[str, Any]:
    """CPU model, core count and the versions that affect timings."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }
    for mod in ("onnxruntime", "torch"):
        if mod in sys.modules:
            info[mod] = getattr(sys.modules[mod], "__version__", "?")
    return info


def _progress(enabled: bool | None) -> Any:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(), transient=True,
    )


def time_callable(
    fn: Callable[[], Any],
    config: BenchConfig = BenchConfig(),  # noqa: B008 - frozen dataclass, safe as a default
    target: str = "callable",
    settings: dict[str, Any] | None = None,
) -> LatencyReport:
    """Time ``fn()`` per call: warm-up, then >= ``iterations`` calls and >= ``min_duration_s``."""
    clock = time.perf_counter_ns
    for _ in range(config.warmup):
        fn()
    samples: list[int] = []
    append = samples.append
    bar = _progress(config.progress)
    task = None
    if bar is not None:
        bar.start()
        task = bar.add_task(f"bench {target}", total=config.iterations)
    deadline = clock() + int(config.min_duration_s * 1e9)
    chunk = max(1, min(config.iterations, 200))
    try:
        while True:
            # The timed loop: nothing but the call between the two clock reads.
            for _ in range(chunk):
                t0 = clock()
                fn()
                append(clock() - t0)
            done = len(samples)
            if bar is not None:
                bar.update(task, completed=min(done, config.iterations))
            if done >= config.iterations and clock() >= deadline:
                break
            if done >= config.iterations:  # duration not reached yet: keep going, grow the bar
                if bar is not None:
                    bar.update(task, total=done + chunk)
    finally:
        if bar is not None:
            bar.stop()
    return LatencyReport(
        target=target,
        samples_ms=np.asarray(samples, dtype=np.float64) / 1e6,
        warmup_iterations=config.warmup,
        batch=config.batch,
        settings=dict(settings or {}),
        host=host_info(),
    )


def harness_overhead_us(iterations: int = 200_000) -> float:
    """The harness's own median cost per iteration, in µs: it times a no-op."""
    report = time_callable(
        lambda: None, BenchConfig(iterations=iterations, warmup=1000, min_duration_s=0.0, progress=False),
        target="noop",
    )
    return report.p50_ms * 1000.0


def plot_histogram(report: LatencyReport, path: str | os.PathLike[str]) -> None:
    """A latency histogram with p50/p99 marked, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report.samples_ms
    stats = report.stats()
    hi = np.percentile(s, 99.9)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(np.clip(s, None, hi), bins=80, color="#4c72b0")
    for key, style in (("p50", "-"), ("p99", "--")):
        ax.axvline(stats[key], color="k", linestyle=style, label=f"{key} {stats[key] * 1000:.2f} µs")
    ax.set_xlabel("latency per inference (ms), clipped at p99.9")
    ax.set_ylabel("iterations")
    ax.set_title(f"{report.target}: {report.iterations} iterations, batch {report.batch}")
    ax.legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
