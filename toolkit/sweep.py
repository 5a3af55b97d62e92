"""Design-space sweeps: a grid over a pipeline's parameters, run locally or on Ray, never lost.

    neuroedge sweep CONFIG.toml --grid splitquant.bits=2,4,8 --grid target=onnxruntime,torch -o OUT

* A grid key is any override the pipeline takes (see ``neuroedge.pipeline``); every point is
  validated before anything runs, so a bad key or value fails at once, naming it.
* Each finished point is appended to ``OUT/results.jsonl`` under the content hash of its config
  and its input model. A rerun skips the points already done; failed points are run again.
* Benchmarks stay valid: a benchmark holds its target's ``bench_resources`` exclusively (the CPU
  ``bench`` slot, an ``mcu`` board, a ``GPU``): locally a per-node file lock per resource, on Ray
  a custom resource of capacity 1. Compiling and evaluating run in parallel meanwhile.
* A worker that dies mid-point (killed, out of memory) is replaced; its point is retried once,
  then recorded as failed with the reason, and the sweep goes on.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from neuroedge.bundle import load
from neuroedge.pipeline import ConfigError, _parse_scalar, apply_override, compile_pipeline, measure, validate

LOCK_DIR = Path(tempfile.gettempdir()) / "neuroedge-locks"
RESULTS = "results.jsonl"


class SweepError(Exception):
    pass


@dataclass
class Point:
    index: int
    overrides: dict[str, Any]
    config: dict[str, Any]
    key: str
    attempts: int = 0
    label: str = field(default="")
    # Set once the point is compiled and evaluated: that result, awaiting its benchmark.
    built: dict[str, Any] | None = None
    built_by: int | None = None  # pid of the local worker that built it (its runner is still open there)
    bench_attempts: int = 0


# ---- grid ------------------------------------------------------------------------------------

def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise SweepError(f"--grid {item!r}: expected KEY=V1,V2,...")
        grid[key.strip()] = [_parse_scalar(v.strip()) for v in values.split(",") if v.strip()]
    return grid


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_identity(config: dict[str, Any]) -> str:
    """What the input model is: its reference, plus the content of its weights or file when present."""
    model = config.get("model", {})
    parts = [str(model.get("ref"))]
    for key in ("weights", "ref"):
        p = Path(str(model.get(key, "")))
        if model.get(key) and p.is_file():
            parts.append(_file_hash(p))
    return "|".join(parts)


def point_key(config: dict[str, Any]) -> str:
    clean = {k: v for k, v in config.items() if not k.startswith("_")}
    blob = json.dumps(clean, sort_keys=True, default=str) + "\n" + model_identity(config)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def expand(config: dict[str, Any], grid: dict[str, list[Any]]) -> list[Point]:
    """Every combination of the grid, each validated (unknown key or bad value: one clear error)."""
    points = []
    keys = list(grid)
    for index, combo in enumerate(itertools.product(*(grid[k] for k in keys))):
        overrides = dict(zip(keys, combo, strict=True))
        cfg = copy.deepcopy(config)
        for key, value in overrides.items():
            try:
                apply_override(cfg, key, value)
            except ConfigError as exc:
                raise SweepError(f"--grid {key}: {exc}") from None
        try:
            validate(cfg)
        except Exception as exc:
            bad = ", ".join(f"{k}={v}" for k, v in overrides.items())
            raise SweepError(f"grid point ({bad}): {exc}") from None
        label = " ".join(f"{k.split('.')[-1]}={v}" for k, v in overrides.items())
        points.append(Point(index, overrides, cfg, point_key(cfg), label=label))
    return points


# ---- results ---------------------------------------------------------------------------------

def read_results(outdir: Path) -> dict[str, dict[str, Any]]:
    """The last record per point key; a torn last line (a crash mid-write) is ignored."""
    path = outdir / RESULTS
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
            records[rec["key"]] = rec
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return records


def append_result(outdir: Path, record: dict[str, Any]) -> None:
    """One line per point, written with a single O_APPEND write and fsynced."""
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(outdir / RESULTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- exclusive benchmark slots and the quiet node ------------------------------------------

@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@contextlib.contextmanager
def file_lock_slot(resources: dict[str, float], lock_dir: Path = LOCK_DIR) -> Iterator[None]:
    """Hold one exclusive per-node lock per resource (sorted, so two holders never deadlock)."""
    with contextlib.ExitStack() as stack:
        for name in sorted(resources):
            stack.enter_context(_flock(lock_dir / f"{name}.lock", fcntl.LOCK_EX))
        yield


class NodeGate:
    """A per-node reader/writer gate that keeps CPU benchmarks quiet.

    A serialised benchmark is not enough on a small machine: a compile on the next core still takes
    memory bandwidth, cache and turbo headroom from it (measured on a 2-vCPU VM with a pinned load on
    the other core: onnxruntime p50 0-10% slower, torch eager 5-20%). So compiling and evaluating hold
    the gate *shared* and a CPU benchmark holds it *exclusive*: the benchmark waits for the running
    phases to end and none start
    while it runs. A turnstile (the classic fair reader/writer lock) stops a stream of compiles from
    starving a waiting benchmark. Per node, as files under ``lock_dir``: processes, Ray tasks and
    separate sweeps on one machine all see the same gate.
    """

    def __init__(self, lock_dir: Path = LOCK_DIR) -> None:
        self.turnstile = Path(lock_dir) / "node-turnstile.lock"
        self.gate = Path(lock_dir) / "node-gate.lock"

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with _flock(self.turnstile, fcntl.LOCK_EX):  # pass the turnstile, do not keep it
            fd = os.open(self.gate, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with _flock(self.turnstile, fcntl.LOCK_EX), _flock(self.gate, fcntl.LOCK_EX):
            yield


def bench_isolation(config: dict[str, Any]) -> str:
    """The config's ``bench.isolation``: "node" (default, quiet node) or "slot" (benchmarks apart only)."""
    return str(config.get("bench", {}).get("isolation", "node"))


def quiet(resources: dict[str, float]) -> bool:
    """Whether a benchmark times on the host CPU (and so needs the node quiet), not only on a board."""
    return "bench" in resources or "CPU" in resources


@contextlib.contextmanager
def _all_cores() -> Iterator[None]:
    """While the node is quiet the benchmark may use every core, as it would in a serial run."""
    if not hasattr(os, "sched_getaffinity"):
        yield
        return
    mine = os.sched_getaffinity(0)
    try:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, range(os.cpu_count() or 1))
        yield
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, mine)


def bench_slot(resources: dict[str, float], lock_dir: Path, holding_shared: Any = None,
               isolation: str = "node") -> Any:
    """The context a benchmark runs in: its resources exclusively, and for a CPU benchmark a quiet node.

    ``holding_shared`` is the caller's open ``NodeGate.shared()`` context, if any: it is released
    while waiting (a worker that holds the gate while waiting for it would deadlock) and taken again after.
    """

    @contextlib.contextmanager
    def slot() -> Iterator[None]:
        if not quiet(resources) or isolation == "slot":
            with file_lock_slot(resources, lock_dir):
                yield
            return
        if holding_shared is not None:
            holding_shared.release()
        try:
            with file_lock_slot(resources, lock_dir), NodeGate(lock_dir).exclusive(), _all_cores():
                yield
        finally:
            if holding_shared is not None:
                holding_shared.acquire()

    return slot()


class _SharedHold:
    """``NodeGate.shared()`` that can be let go and taken again mid-way (around the benchmark)."""

    def __init__(self, gate: NodeGate) -> None:
        self.gate, self.ctx = gate, None

    def acquire(self) -> None:
        self.ctx = self.gate.shared()
        self.ctx.__enter__()

    def release(self) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(None, None, None)
            self.ctx = None

    def __enter__(self) -> _SharedHold:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_OPEN_RUNNERS: dict[str, Any] = {}  # in a worker: runners left open between a point's evaluation and benchmark
MAX_OPEN_RUNNERS = 8


def run_point(config: dict[str, Any], workdir: str, lock_dir: str, stage: str = "all",
              built: dict[str, Any] | None = None) -> dict[str, Any]:
    """One point's work in a worker process: ``build`` (compile + evaluate), ``bench``, or ``all``."""
    t0 = time.time()
    key = point_key(config)
    out = Path(workdir) / "points" / key
    with _SharedHold(NodeGate(Path(lock_dir))) as hold:
        slot = lambda res: bench_slot(res, Path(lock_dir), hold, bench_isolation(config))  # noqa: E731
        if stage == "bench":
            assert built is not None
            keep = {"runner": _OPEN_RUNNERS.pop(key, None)}  # opened when this worker evaluated the point
            try:
                result = {**built, **measure(config, load(built["bundle"]), slot, accuracy=False, latency=True,
                                             keep=keep)}
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
            result = compile_pipeline(config, out, force=True, bench_slot=slot)
    result["wall_s"] = round(time.time() - t0 + float((built or {}).get("wall_s", 0.0)), 3)
    result["start"], result["end"] = (built or {}).get("start", t0), time.time()
    result["pid"] = os.getpid()
    return result


# ---- local backend: long-lived workers, one point each at a time -----------------------------

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


def _needs_quiet(point: Point) -> bool:
    return bench_isolation(point.config) == "node"


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


# ---- Ray backend -----------------------------------------------------------------------------

def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SweepError("--backend ray needs Ray: pip install 'neuroedge[ray]'") from None
    return ray


def check_address(address: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, not minutes, when a Ray address does not answer (ray.init retries for long)."""
    import socket

    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379) or ray://HOST:10001")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise SweepError(f"--address {address}: unreachable ({exc.strerror or exc}); is 'ray start --head' running there?") from None


def run_ray(points: list[Point], workdir: Path, address: str | None, on_done: Callable[..., None],
            init_kwargs: dict[str, Any] | None = None) -> None:
    """Build + evaluate anywhere; benchmark where the target's resources are (capacity 1 each)."""
    ray = _ray()
    from neuroedge import registry

    started_here = False
    if not ray.is_initialized():
        kwargs = dict(init_kwargs or {})
        kwargs.setdefault("include_dashboard", False)
        kwargs.setdefault("log_to_driver", False)
        if address:
            check_address(address)
        try:
            if address:
                ray.init(address=address, **{k: v for k, v in kwargs.items() if k not in ("num_cpus", "resources")})
            else:
                kwargs.setdefault("resources", {"bench": 1})
                ray.init(**kwargs)
        except Exception as exc:
            where = f"--address {address}" if address else "a local Ray"
            raise SweepError(f"cannot start or reach {where}: {str(exc).splitlines()[0]}") from None
        started_here = True
    try:
        cwd = os.getcwd()

        @ray.remote(max_retries=1, num_cpus=1)
        def build_task(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
            os.chdir(cwd)
            sys.path.insert(0, cwd)
            from neuroedge.pipeline import build, measure
            from neuroedge.sweep import NodeGate

            with tempfile.TemporaryDirectory() as tmp, NodeGate().shared():
                bundle, result = build(config, Path(tmp))
                result.update(measure(config, bundle, accuracy=True, latency=False))
                files = {n: (bundle.path / n).read_bytes() for n in [*bundle.manifest.files, "manifest.json"]}
            return result, files

        def bench_remote(resources: dict[str, float]) -> Any:
            @ray.remote(max_retries=1, num_cpus=1, resources=resources)
            def bench_task(config: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
                os.chdir(cwd)
                sys.path.insert(0, cwd)
                from neuroedge.bundle import load
                from neuroedge.pipeline import measure
                from neuroedge.sweep import LOCK_DIR, bench_isolation
                from neuroedge.sweep import bench_slot as slot

                with tempfile.TemporaryDirectory() as tmp:
                    for name, data in files.items():
                        (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                        (Path(tmp) / name).write_bytes(data)
                    # Ray's capacity-1 resource serialises benchmarks; the node gate keeps them quiet.
                    res = measure(config, load(tmp), lambda r: slot(r, LOCK_DIR, None, bench_isolation(config)),
                                  accuracy=False, latency=True)
                res["pid"] = os.getpid()
                return res

            return bench_task

        pending = {}
        for point in points:
            point.attempts = 1
            pending[build_task.remote(point.config)] = ("build", point, time.time())
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            stage, point, t0 = pending.pop(ref)
            try:
                value = ray.get(ref)
            except Exception as exc:
                line = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                on_done(point, "failed", {"error": f"{type(exc).__name__}: {line[:300]}"})
                continue
            if stage == "build":
                result, files = value
                target = point.config.get("target", {}).get("name")
                if not target:
                    on_done(point, "ok", result)
                    continue
                resources = registry.get_target(target).bench_resources
                pending[bench_remote(resources).remote(point.config, files)] = ("bench", point, t0)
                point.built = result
            else:
                assert point.built is not None
                result = {**point.built, **value}
                result["summary"] = {**point.built.get("summary", {}), **value.get("summary", {})}
                result["wall_s"] = round(time.time() - t0, 3)
                on_done(point, "ok", result)
    finally:
        if started_here:
            ray.shutdown()


# ---- the sweep -------------------------------------------------------------------------------

def sweep(config: dict[str, Any], grid: dict[str, list[Any]], outdir: Path, backend: str = "local",
          workers: int | None = None, address: str | None = None, progress: bool | None = None,
          lock_dir: Path = LOCK_DIR, ray_init: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run every grid point not already done; returns {"ran": [...], "skipped": [...], "records": {...}}."""
    points = expand(config, grid)
    outdir.mkdir(parents=True, exist_ok=True)
    previous = read_results(outdir)
    done = {k for k, r in previous.items() if r.get("status") == "ok"}
    todo = [p for p in points if p.key not in done]
    for p in todo:  # compiled and evaluated before a kill: only the benchmark is left to run
        rec = previous.get(p.key, {})
        if rec.get("status") == "built" and Path(str(rec.get("bundle", ""))).is_dir():
            p.built = {k: v for k, v in rec.items() if k not in ("key", "index", "overrides", "status", "attempts")}
    skipped = [p.key for p in points if p.key in done]
    ran: list[str] = []
    bar = _bar(progress, len(points), len(skipped))

    def on_done(point: Point, status: str, payload: dict[str, Any]) -> None:
        record = {"key": point.key, "index": point.index, "overrides": point.overrides, "status": status,
                  "attempts": point.attempts, "finished_at": time.time(), **payload}
        append_result(outdir, record)
        ran.append(point.key)
        if bar is not None:
            bar["advance"](status)

    def on_built(point: Point, payload: dict[str, Any]) -> None:
        # Kept, so a sweep killed before this point's benchmark does not compile it again.
        append_result(outdir, {"key": point.key, "index": point.index, "overrides": point.overrides,
                               "status": "built", "finished_at": time.time(), **payload})

    t0 = time.time()
    try:
        if backend == "local":
            pool = LocalPool(max(1, min(workers or os.cpu_count() or 1, len(todo) or 1)), outdir, lock_dir)
            try:
                pool.run(todo, on_done, on_built=on_built)
            finally:
                pool.close()
        elif backend == "ray":
            run_ray(todo, outdir, address, on_done, ray_init)
        else:
            raise SweepError(f"--backend {backend!r}: expected local or ray")
    finally:
        if bar is not None:
            bar["stop"]()
    records = read_results(outdir)
    from neuroedge.sweep_report import write_report

    write_report(outdir, [records[p.key] for p in points if p.key in records])
    return {"ran": ran, "skipped": skipped, "records": records, "wall_s": time.time() - t0,
            "points": [p.key for p in points]}


def _bar(enabled: bool | None, total: int, already: int) -> dict[str, Any] | None:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    counts = {"ok": already, "failed": 0}
    prog = Progress(TextColumn("[bold]sweep"), BarColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    prog.start()

    def status() -> str:
        left = total - counts["ok"] - counts["failed"]
        return f"done {counts['ok']}  failed {counts['failed']}  left {left}"

    task = prog.add_task("sweep", total=total, completed=already, status=status())

    def advance(kind: str) -> None:
        counts["ok" if kind == "ok" else "failed"] += 1
        prog.update(task, advance=1, status=status())

    return {"advance": advance, "stop": prog.stop}


def main(args: Any) -> int:
    """``neuroedge sweep``: the CLI entry."""
    from neuroedge.pipeline import load_config

    config = load_config(Path(args.config))
    grid = parse_grid(args.grid or [])
    if not grid:
        raise SweepError("give at least one --grid KEY=V1,V2,...")
    res = sweep(config, grid, Path(args.output), backend=args.backend, workers=args.workers, address=args.address)
    recs = [res["records"][k] for k in res["points"] if k in res["records"]]
    failed = [r for r in recs if r["status"] != "ok"]
    print(f"{len(res['points'])} points: {len(res['ran'])} ran, {len(res['skipped'])} already done, "
          f"{len(failed)} failed; report: {Path(args.output) / 'report.md'}")
    for r in failed:
        print(f"  failed {r['overrides']}: {r.get('error')}")
    return 1 if failed else 0
