"""The local backend: long-lived worker processes, one point each at a time; benchmarks when nothing compiles."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from neuroedge.sweep.grid import Point
from neuroedge.sweep.isolation import bench_isolation
from neuroedge.sweep.worker import _worker_main


def _needs_quiet(point: Point) -> bool:
    return bench_isolation(point.config) == "node"


MAX_SLOW_DEFERRALS = 1


def _slowness(result: dict[str, Any]) -> float:
    """How much slower than usual the point's probe ran (0 when unknown; ``neuroedge.sweep.paired``)."""
    probe = result.get("probe") or {}
    slow = probe.get("probe_slower_than_usual_pct") or [0.0]
    return float(slow[probe.get("kept_attempt", 0)])


def defer_if_slow(point: Point, result: dict[str, Any]) -> dict[str, Any] | None:
    """A benchmark taken in a slow spell of the host (``slow_spell``) is put aside and the point benchmarked
    again later, once (a spell can last seconds or minutes; the points benchmarked in between are the
    wait). Returns None to defer, else the result to keep: the one whose probe ran fastest."""
    if (result.get("probe") or {}).get("slow_spell") and len(point.slow_benches) < MAX_SLOW_DEFERRALS:
        point.slow_benches.append(result)
        return None
    if not point.slow_benches:
        return result
    kept = min([*point.slow_benches, result], key=_slowness)
    kept.setdefault("probe", {})["deferred_for_slow_spell"] = len(point.slow_benches)
    return kept


class LocalPool:
    """N worker processes. Unlike a ProcessPoolExecutor, a dead worker is attributed to its point."""

    def __init__(self, workers: int, workdir: Path, lock_dir: Path) -> None:
        self.ctx = mp.get_context("spawn")  # torch and fork do not mix
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.args = (str(workdir), str(lock_dir), os.getcwd(), threads)
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        # Worker i gets its own block of cores when there are at least as many cores as workers.
        self.cores = [allowed[i * threads:(i + 1) * threads] if len(allowed) >= workers else []
                      for i in range(workers)]
        self.slots: list[dict[str, Any]] = [self._start(i) for i in range(workers)]

    def _start(self, index: int) -> dict[str, Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, *self.args, self.cores[index]), daemon=True)
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "point": None, "stage": None, "index": index, "pid": proc.pid}

    def run(self, points: list[Point], on_done: Callable[[Point, str, dict[str, Any]], None],
            max_attempts: int = 2, on_built: Callable[[Point, dict[str, Any]], None] | None = None) -> None:
        """Compile and evaluate in parallel; benchmark only at a moment when nothing compiles.

        A CPU benchmark needs the node quiet (``NodeGate``), so one that starts while another worker
        compiles only waits for it, its own core idle. Deferring each benchmark until no compile runs
        keeps every core busy while there is compiling to do (one worker still benchmarks each point
        right after building it, so its results stream).
        A point already built (``point.built``, e.g. by a sweep that was killed) is only benchmarked.
        """
        builds = [p for p in points if p.built is None]
        benches = [p for p in points if p.built is not None]
        while builds or benches or any(s["point"] for s in self.slots):
            building = any(s["point"] and s["stage"] != "bench" for s in self.slots)
            for slot in self.slots:
                if slot["point"] is not None:
                    continue
                if benches and (not building or not _needs_quiet(benches[0])):  # results keep streaming
                    # Prefer a point this worker evaluated: its runner is still open there.
                    mine = [i for i, b in enumerate(benches) if b.built_by == slot["pid"]]
                    point, stage = benches.pop(mine[0] if mine else 0), "bench"
                elif builds:
                    point, stage = builds.pop(0), "build"
                else:
                    continue
                if stage == "bench":
                    point.bench_attempts += 1
                else:
                    point.attempts += 1
                slot["point"], slot["stage"] = point, stage
                slot["conn"].send((point.key, point.config, stage, point.built))
                building = building or stage == "build"
            busy = [s for s in self.slots if s["point"]]
            if not busy:
                continue
            ready = wait([s["conn"] for s in busy] + [s["proc"].sentinel for s in busy])
            for slot in busy:
                point, stage = slot["point"], slot["stage"]
                if slot["conn"] in ready:
                    try:
                        _, status, payload = slot["conn"].recv()
                    except (EOFError, OSError):  # the worker died: its pipe closed
                        pass
                    else:
                        slot["point"] = None
                        if status == "ok" and stage == "bench":
                            kept = defer_if_slow(point, payload)
                            if kept is None:
                                benches.append(point)  # measured again after the other waiting benchmarks
                                continue
                            payload = kept
                        if status == "ok" and stage == "build":
                            point.built, point.built_by = payload, slot["pid"]
                            if on_built:
                                on_built(point, payload)
                            if point.config.get("target", {}).get("name"):
                                benches.append(point)
                                continue
                        on_done(point, status, payload)
                        continue
                if slot["proc"].sentinel in ready or not slot["proc"].is_alive():
                    slot["proc"].join(timeout=5)
                    code = slot["proc"].exitcode
                    slot.update(self._start(slot["index"]))
                    slot["point"] = None
                    tries = point.bench_attempts if stage == "bench" else point.attempts
                    if tries < max_attempts:
                        (benches if stage == "bench" else builds).insert(0, point)  # retried once, fresh worker
                    else:
                        on_done(point, "failed", {"error": f"worker died twice (exit code {code}); gave up"})

    def close(self) -> None:
        for slot in self.slots:
            with contextlib.suppress(OSError, BrokenPipeError):
                slot["conn"].send(None)
        for slot in self.slots:
            slot["proc"].join(timeout=5)
            if slot["proc"].is_alive():
                slot["proc"].kill()
