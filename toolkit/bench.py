"""Latency benchmark, modelled on trtexec and MLPerf single-stream, with its own noise estimate.

The harness times a zero-argument callable, prepared by the runner so that the
timed region is exactly one inference (inputs already bound, outputs
preallocated). Warm-up first, then ``rounds`` timed rounds (5 on a CPU target; simulators and
boards declare fewer), each of at least ``iterations`` calls and at least ``min_duration_s``
seconds. The inner loop is two ``perf_counter_ns`` calls and one list append per iteration: its
own cost is measured by timing a no-op and reported as ``harness_overhead_us``.

Rounds measure the harness's own noise, as pyperf does: the p50 of each round, and their spread
(the median absolute deviation of the round p50s, as a percentage of their median). A spread above
``spread_threshold_pct`` (5%) marks the result ``unstable`` and prints one warning line.
``interleaved_rounds`` is the one loop that runs several variants round by round (A B C, A B C, ...)
so that a slow spell of a shared machine hits all of them alike; benchmarks and ``time_callable``
both use it.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 95, 99)
DEFAULT_ROUNDS = 5  # a CPU target's round count; Target.bench_rounds overrides it per target
SPREAD_THRESHOLD_PCT = 5.0


@dataclass(frozen=True)
class BenchConfig:
    iterations: int = 1000
    warmup: int = 100
    min_duration_s: float = 1.0
    batch: int = 1
    progress: bool | None = None  # None: a progress bar only on a terminal
    rounds: int | None = None  # None: the target's ``bench_rounds`` (DEFAULT_ROUNDS for a plain callable)
    spread_threshold_pct: float = SPREAD_THRESHOLD_PCT
    warn: bool = True  # print the one-line "may be unstable" warning on stderr

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError("iterations must be >= 1")
        if self.rounds is not None and self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        if self.spread_threshold_pct <= 0:
            raise ValueError("spread_threshold_pct must be > 0")
        if self.warmup < 0:
            raise ValueError("warmup must be >= 0")
        if self.min_duration_s < 0:
            raise ValueError("min_duration_s must be >= 0")

    def for_target(self, bench_rounds: int) -> BenchConfig:
        """This config with ``rounds`` set to a target's ``bench_rounds`` where the caller left it unset."""
        return self if self.rounds else replace(self, rounds=bench_rounds)


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
    # Samples per timed round, in order (their sum is samples_ms.size); None: one round.
    round_sizes: list[int] | None = None
    spread_threshold_pct: float = SPREAD_THRESHOLD_PCT

    @property
    def iterations(self) -> int:
        return int(self.samples_ms.size)

    @property
    def rounds(self) -> int:
        return len(self.round_sizes) if self.round_sizes else 1

    def round_samples(self) -> list[np.ndarray]:
        """The samples of each round, in the order they ran."""
        if not self.round_sizes:
            return [self.samples_ms]
        edges = np.cumsum(self.round_sizes)[:-1]
        return [r for r in np.split(self.samples_ms, edges) if r.size]

    @property
    def p50_per_round_ms(self) -> list[float]:
        return [float(np.percentile(r, 50)) for r in self.round_samples()]

    @property
    def p50_spread_pct(self) -> float | None:
        """Median absolute deviation of the round p50s, % of their median (None with one round)."""
        return spread_pct(self.p50_per_round_ms)

    @property
    def unstable(self) -> bool:
        spread = self.p50_spread_pct
        return spread is not None and spread > self.spread_threshold_pct

    def stability_warning(self) -> str | None:
        """pyperf's warning, in one line, when the rounds disagree; None when they agree."""
        if not self.unstable:
            return None
        return (f"warning: {self.target}: the result may be unstable: the p50 of its {self.rounds} rounds "
                f"spread {self.p50_spread_pct:.1f}% (MAD of round p50s) > {self.spread_threshold_pct:g}%; "
                "rerun on a quieter machine or with more iterations")

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
            "rounds": self.rounds,
            "p50_per_round_ms": [round(v, 6) for v in self.p50_per_round_ms],
            "p50_spread_pct": None if self.p50_spread_pct is None else round(self.p50_spread_pct, 3),
            "unstable": self.unstable,
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


def spread_pct(values: Sequence[float]) -> float | None:
    """Median absolute deviation of ``values`` as a percentage of their median (None for < 2 values)."""
    if len(values) < 2:
        return None
    v = np.asarray(values, dtype=np.float64)
    med = float(np.median(v))
    if med <= 0:
        return None
    return float(np.median(np.abs(v - med))) / med * 100.0


def interleaved_rounds(
    variants: Mapping[str, Callable[[], np.ndarray | LatencyReport]],
    rounds: int,
    on_round: Callable[[int, str, np.ndarray], None] | None = None,
) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Run each variant once per round, in turn (A B C, A B C, ...), ``rounds`` times.

    Each variant is a zero-argument call that times one round and returns its samples in ms (or a
    ``LatencyReport``, whose samples are taken). Interleaving makes a slow spell of a shared machine
    land on every variant alike instead of on whichever ran in it. Returns, per variant, all its
    samples in order and the size of each round (``LatencyReport.round_sizes``).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    samples: dict[str, list[np.ndarray]] = {name: [] for name in variants}
    for r in range(rounds):
        for name, fn in variants.items():
            got = fn()
            arr = np.asarray(got.samples_ms if isinstance(got, LatencyReport) else got, dtype=np.float64)
            samples[name].append(arr)
            if on_round is not None:
                on_round(r, name, arr)
    return {name: (np.concatenate(v), [int(a.size) for a in v]) for name, v in samples.items()}


def rounds_report(samples: tuple[np.ndarray, list[int]], target: str, **fields: Any) -> LatencyReport:
    """A ``LatencyReport`` from one variant of ``interleaved_rounds`` (round statistics included)."""
    all_ms, sizes = samples
    return LatencyReport(target=target, samples_ms=all_ms, round_sizes=sizes, **fields)


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


def _timed_round(fn: Callable[[], Any], iterations: int, min_duration_s: float,
                 advance: Callable[[int], None] | None) -> np.ndarray:
    """One round: >= ``iterations`` calls and >= ``min_duration_s`` seconds; per-call times in ms."""
    clock = time.perf_counter_ns
    samples: list[int] = []
    append = samples.append
    deadline = clock() + int(min_duration_s * 1e9)
    chunk = max(1, min(iterations, 200))
    while True:
        # The timed loop: nothing but the call between the two clock reads.
        for _ in range(chunk):
            t0 = clock()
            fn()
            append(clock() - t0)
        if advance is not None:
            advance(chunk)
        if len(samples) >= iterations and clock() >= deadline:
            break
    return np.asarray(samples, dtype=np.float64) / 1e6


def time_callable(
    fn: Callable[[], Any],
    config: BenchConfig = BenchConfig(),  # noqa: B008 - frozen dataclass, safe as a default
    target: str = "callable",
    settings: dict[str, Any] | None = None,
) -> LatencyReport:
    """Time ``fn()`` per call: warm-up, then ``rounds`` rounds of >= ``iterations`` calls and >= ``min_duration_s``."""
    rounds = config.rounds or DEFAULT_ROUNDS
    for _ in range(config.warmup):
        fn()
    bar = _progress(config.progress)
    advance = None
    if bar is not None:
        bar.start()
        task = bar.add_task(f"bench {target}", total=config.iterations * rounds)

        def advance(n: int) -> None:
            bar.update(task, advance=n)
    try:
        res = interleaved_rounds(
            {target: lambda: _timed_round(fn, config.iterations, config.min_duration_s, advance)}, rounds)
    finally:
        if bar is not None:
            bar.stop()
    report = rounds_report(res[target], target, warmup_iterations=config.warmup, batch=config.batch,
                           settings=dict(settings or {}), host=host_info(),
                           spread_threshold_pct=config.spread_threshold_pct)
    warn_if_unstable(report, config)
    return report


def warn_if_unstable(report: LatencyReport, config: BenchConfig) -> None:
    """Print the report's one-line stability warning on stderr (when ``config.warn`` and it is unstable)."""
    line = report.stability_warning()
    if line and config.warn:
        print(line, file=sys.stderr, flush=True)


def harness_overhead_us(iterations: int = 200_000) -> float:
    """The harness's own median cost per iteration, in µs: it times a no-op."""
    report = time_callable(
        lambda: None,
        BenchConfig(iterations=iterations, warmup=1000, min_duration_s=0.0, progress=False, rounds=1, warn=False),
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
