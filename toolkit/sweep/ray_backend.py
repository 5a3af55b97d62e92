"""The Ray backend: compile and evaluate anywhere; benchmark where the target's resources are."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuroedge.sweep.grid import Point, SweepError


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
            from neuroedge.sweep.isolation import NodeGate

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
                from neuroedge.sweep.isolation import LOCK_DIR, bench_isolation
                from neuroedge.sweep.isolation import bench_slot as slot
                from neuroedge.sweep.worker import probed, with_relative

                with tempfile.TemporaryDirectory() as tmp:
                    for name, data in files.items():
                        (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                        (Path(tmp) / name).write_bytes(data)
                    # Ray's capacity-1 resource serialises benchmarks; the node gate keeps them quiet.
                    bracket, omitted = probed(config, LOCK_DIR)
                    res = measure(config, load(tmp), lambda r: slot(r, LOCK_DIR, None, bench_isolation(config)),
                                  accuracy=False, latency=True, bracket=bracket)
                    with_relative(res, omitted)
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
