"""Keeping benchmarks valid: exclusive per-node slots per resource, and the quiet-node gate.

Locally each resource a benchmark holds (``Target.bench_resources``) is a per-node file lock, so even
two sweeps on one machine never benchmark at once; a CPU benchmark also holds the ``NodeGate``
exclusive, so nothing compiles beside it (``bench.isolation = "node"``, the default).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOCK_DIR = Path(tempfile.gettempdir()) / "neuroedge-locks"


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
