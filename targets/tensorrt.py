"""Target ``tensorrt``: run and benchmark a ``tensorrt-plan`` bundle on the local NVIDIA GPU.

Before loading, the engine's build log (TensorRT version, GPU compute capability) is checked against this
machine: an engine built by another TensorRT or for another GPU is refused in one line, not left to
crash in deserialisation. Execution is ``execute_async_v3`` with named tensor addresses (TensorRT 10),
through the same ``TrtSession`` the board runner uses (``neuroedge.trt.session``).

The benchmark reports trtexec's split: host latency (H2D + GPU compute + D2H, waited for) as the samples,
with GPU compute time (CUDA events) and enqueue time summarised in ``settings``. The engine build time is
in the bundle (``metrics.build_seconds``), never inside these numbers. Option ``trtexec=true`` runs
NVIDIA's ``trtexec --loadEngine`` instead and parses its performance summary.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from neuroedge.bench import BenchConfig, LatencyReport, host_info
from neuroedge.bundle import Bundle, TensorSpec
from neuroedge.registry import Target, check_inputs, opt
from neuroedge.trt.build import check_engine_compatible, tensorrt_status
from neuroedge.trt.cuda import cuda_info


@dataclass(frozen=True)
class TensorRTOptions:
    trtexec: bool = opt(False, "also time the engine with trtexec and record its figures")
    trtexec_path: str | None = opt(None, "the trtexec binary (default: found on PATH)")


def available() -> Literal[True] | str:
    ok, why = tensorrt_status()
    return True if ok else why


def engine_problem(bundle: Bundle) -> str | None:
    """Why this bundle's engine cannot load here (TensorRT version, GPU), or None."""
    import tensorrt as trt

    log = bundle.manifest.extra.get("build")
    if not isinstance(log, dict):
        return f"{bundle.path}: no build log in the manifest (extra.build); rebuild with neuroedge convert tensorrt"
    reason = check_engine_compatible(log, trt.__version__, cuda_info())
    return f"{bundle.path}: {reason}" if reason else None


_TRTEXEC_LINE = re.compile(
    r"(Throughput|Latency|Enqueue Time|H2D Latency|GPU Compute Time|D2H Latency):\s*(.*)$")
_STAT = re.compile(r"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\))\s*=\s*([0-9.eE+-]+)")


def parse_trtexec_summary(text: str) -> dict[str, Any]:
    """Parse trtexec's "Performance summary": each metric's min/max/mean/median/percentiles (ms), qps.

    trtexec prints e.g. ``[I] Latency: min = 0.0713 ms, max = 0.30 ms, mean = 0.08 ms, median = 0.079 ms,
    percentile(90%) = 0.08 ms, ...`` and ``[I] Throughput: 12000.1 qps``. Keys are snake_case
    (``latency`` is trtexec's host latency).
    """
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if "Total " in line:  # "Total GPU Compute Time: 2.9 s" is a sum, not a per-inference statistic
            continue
        m = _TRTEXEC_LINE.search(line)
        if not m:
            continue
        key = m.group(1).lower().replace(" ", "_")
        if key == "throughput":
            num = re.search(r"([0-9.eE+-]+)\s*qps", m.group(2))
            if num:
                out["throughput_qps"] = float(num.group(1))
            continue
        stats = {}
        for name, pct, value in _STAT.findall(m.group(2)):
            stats[f"p{pct.rstrip('0').rstrip('.')}" if pct else name] = float(value)
        if stats:
            out[key] = stats
    if "latency" not in out:
        raise ValueError("no 'Latency:' line in the trtexec output (was it a performance run?)")
    return out


class TensorRTRunner:
    target = "tensorrt"

    def __init__(self, bundle: Bundle, options: TensorRTOptions) -> None:
        problem = engine_problem(bundle)
        if problem:
            raise RuntimeError(problem)
        from neuroedge.trt.session import TrtSession

        self.bundle = bundle
        self.inputs: tuple[TensorSpec, ...] = bundle.manifest.inputs
        self.outputs: tuple[TensorSpec, ...] = bundle.manifest.outputs
        self.options = options
        self._engine = bundle.main_file.read_bytes()
        self._session_cls = TrtSession
        self._session: Any = None
        self._batch = 0
        self.last_timings: dict[str, Any] = {}

    def _session_for(self, arrays: list[np.ndarray]) -> Any:
        batch = int(arrays[0].shape[0]) if arrays and arrays[0].ndim else 1
        if self._session is None or batch != self._batch:
            if self._session is not None:
                self._session.close()
            shapes = {s.name: list(a.shape) for s, a in zip(self.inputs, arrays, strict=True)}
            self._session = self._session_cls(self._engine, shapes)
            self._batch = batch
        return self._session

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        arrays = check_inputs(self.inputs, inputs)
        session = self._session_for(arrays)
        out = session.run({s.name: a for s, a in zip(self.inputs, arrays, strict=True)})
        return [out[s.name] for s in self.outputs]

    def benchmark(self, inputs: list[np.ndarray], config: BenchConfig = BenchConfig()) -> LatencyReport:  # noqa: B008
        if self.options.trtexec:
            return self._benchmark_trtexec(config)
        arrays = check_inputs(self.inputs, inputs)
        session = self._session_for(arrays)
        t = session.benchmark({s.name: a for s, a in zip(self.inputs, arrays, strict=True)},
                              iterations=config.iterations, warmup_s=0.2, min_duration_s=config.min_duration_s)
        settings = self.settings()
        for key in ("gpu_compute_ms", "enqueue_ms"):
            s = np.asarray(t[key])
            settings[key] = {"mean": float(s.mean()), "p50": float(np.percentile(s, 50)),
                             "p99": float(np.percentile(s, 99))}
        return LatencyReport(target=self.target, samples_ms=np.asarray(t["host_latency_ms"]),
                             warmup_iterations=0, batch=config.batch, settings=settings, host=host_info())

    def _benchmark_trtexec(self, config: BenchConfig) -> LatencyReport:
        exe = self.options.trtexec_path or shutil.which("trtexec")
        if not exe:
            raise RuntimeError("trtexec not found: add TensorRT's bin folder to PATH or pass trtexec_path=...")
        cmd = [str(exe), f"--loadEngine={self.bundle.main_file}", f"--iterations={config.iterations}",
               f"--duration={max(1, int(config.min_duration_s))}", "--warmUp=200"]
        shapes = ",".join(f"{s.name}:{'x'.join(str(d) for d in s.concrete_shape(config.batch))}" for s in self.inputs)
        if any(isinstance(d, str) for s in self.inputs for d in s.shape):
            cmd.append(f"--shapes={shapes}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"trtexec failed: {(proc.stdout + proc.stderr).strip().splitlines()[-1:]}")
        summary = parse_trtexec_summary(proc.stdout)
        lat = summary["latency"]
        settings = {**self.settings(), "trtexec": summary, "trtexec_command": cmd}
        # trtexec gives statistics, not samples: the report carries its median, mean and percentiles only.
        samples = np.asarray([lat[k] for k in ("min", "median", "mean", "p90", "p95", "p99", "max") if k in lat])
        return LatencyReport(target="tensorrt:trtexec", samples_ms=samples, warmup_iterations=0,
                             batch=config.batch, settings=settings, host=host_info())

    def settings(self) -> dict[str, Any]:
        import tensorrt as trt

        log = self.bundle.manifest.extra.get("build", {})
        return {"tensorrt": trt.__version__, "api": "execute_async_v3", "precision": log.get("precision"),
                "gpu": log.get("gpu"), "compute_capability": log.get("compute_capability"),
                "build_seconds": log.get("build_seconds")}

    def resources(self) -> dict[str, Any]:
        return {"engine_bytes": len(self._engine), "build": json.loads(json.dumps(self.bundle.manifest.extra))}

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def open_runner(bundle: Bundle, options: TensorRTOptions) -> TensorRTRunner:
    """TensorRT 10 on the local NVIDIA GPU: execute_async_v3, host/GPU/enqueue times as trtexec reports"""
    return TensorRTRunner(bundle, options)


TARGET = Target("tensorrt", ("tensorrt-plan",), open_runner, TensorRTOptions, available, bench_resources={"GPU": 1})
