"""A sweep worker: one point's compile + evaluation, or its benchmark between reference probes."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from neuroedge.bundle import load
from neuroedge.pipeline import compile_pipeline, measure
from neuroedge.sweep.grid import point_key
from neuroedge.sweep.isolation import NodeGate, _SharedHold, bench_isolation, bench_slot
from neuroedge.sweep.probe import bracket_for

_OPEN_RUNNERS: dict[str, Any] = {}  # in a worker: runners left open between a point's evaluation and benchmark
MAX_OPEN_RUNNERS = 8


def probed(config: dict[str, Any], lock_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The probe bracket for a point's benchmark (``neuroedge.sweep.probe``), or None and why not."""
    if not config.get("target", {}).get("name"):
        return None, {}
    try:
        bracket, why = bracket_for(config, lock_dir)
    except Exception as exc:  # a probe that cannot run must not fail the point: say so in its record
        return None, {"omitted": f"the probe failed: {type(exc).__name__}: {str(exc).strip()[:300]}"}
    return bracket, ({"omitted": why} if why else {})


def with_relative(result: dict[str, Any], omitted: dict[str, Any]) -> dict[str, Any]:
    """Add ``p50_relative`` (the point's p50 over its probes' mean p50) where the point was probed."""
    if "probe" in result:
        result["p50_relative"] = result["probe"]["relative_p50"]
        if result["probe"].get("relative_p10"):  # paired timing only (neuroedge.sweep.paired)
            result["p10_relative"] = result["probe"]["relative_p10"]
        result.setdefault("summary", {})["p50_relative"] = round(result["p50_relative"], 4)
    elif omitted and result.get("p50_ms"):
        result["probe"] = omitted
    return result


def run_point(config: dict[str, Any], workdir: str, lock_dir: str, stage: str = "all",
              built: dict[str, Any] | None = None) -> dict[str, Any]:
    """One point's work in a worker process: ``build`` (compile + evaluate), ``bench``, or ``all``."""
    t0 = time.time()
    key = point_key(config)
    out = Path(workdir) / "points" / key
    with _SharedHold(NodeGate(Path(lock_dir))) as hold:
        slot = lambda res: bench_slot(res, Path(lock_dir), hold, bench_isolation(config))  # noqa: E731
        bracket, omitted = probed(config, Path(lock_dir)) if stage in ("bench", "all") else (None, {})
        if stage == "bench":
            assert built is not None
            keep = {"runner": _OPEN_RUNNERS.pop(key, None)}  # opened when this worker evaluated the point
            try:
                result = {**built, **measure(config, load(built["bundle"]), slot, accuracy=False, latency=True,
                                             keep=keep, bracket=bracket)}
            finally:
                if keep.get("runner") is not None:
                    keep["runner"].close()
            result["summary"] = {**built.get("summary", {}), **result.get("summary", {})}
        elif stage == "build":
            result = compile_pipeline(config, out, force=True, latency=False, accuracy=False)
            keep: dict[str, Any] = {}
            result.update(measure(config, load(result["bundle"]), accuracy=True, latency=False, keep=keep))
            if keep.get("runner") is not None:  # the benchmark reuses it: no second model load
                while len(_OPEN_RUNNERS) >= MAX_OPEN_RUNNERS:
                    _OPEN_RUNNERS.pop(next(iter(_OPEN_RUNNERS))).close()
                _OPEN_RUNNERS[key] = keep["runner"]
        else:
            result = compile_pipeline(config, out, force=True, latency=False)
            result.update(measure(config, load(result["bundle"]), slot, accuracy=False, latency=True,
                                  bracket=bracket))
    with_relative(result, omitted)
    result["wall_s"] = round(time.time() - t0 + float((built or {}).get("wall_s", 0.0)), 3)
    result["start"], result["end"] = (built or {}).get("start", t0), time.time()
    result["pid"] = os.getpid()
    return result


def _worker_main(conn: Any, workdir: str, lock_dir: str, cwd: str, threads: int, cores: list[int]) -> None:
    # Pinned to its own cores, a benchmarking worker is never migrated onto a compiling one's core.
    if cores and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cores)
    # Workers share the cores: each gets its share of intra-op threads, so a compiling worker never
    # spills onto the core where another one is benchmarking (and one worker alone uses them all).
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    # OpenMP threads left spinning by a compile steal the core from the benchmark that follows it in
    # this process (measured: an onnxruntime p50 of 31 µs right after a brevitas compile, 18 µs with
    # passive waiting). Set before torch loads OpenMP.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(threads)
    os.chdir(cwd)
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    while True:
        msg = conn.recv()
        if msg is None:
            return
        key, config, stage, built = msg
        try:
            conn.send((key, "ok", run_point(config, workdir, lock_dir, stage, built)))
        except Exception as exc:
            line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            conn.send((key, "failed", {"error": f"{type(exc).__name__}: {line}",
                                       "traceback_tail": traceback.format_exc()[-2000:]}))
