"""``neuroedge sweep``: run every grid point not already done, locally or on Ray, with progress shown."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from neuroedge.sweep.grid import Point, SweepError, expand, parse_grid
from neuroedge.sweep.isolation import LOCK_DIR
from neuroedge.sweep.local import LocalPool
from neuroedge.sweep.ray_backend import run_ray
from neuroedge.sweep.store import append_result, read_results


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
            bar["advance"](point, status, payload)

    def on_built(point: Point, payload: dict[str, Any]) -> None:
        # Kept, so a sweep killed before this point's benchmark does not compile it again.
        append_result(outdir, {"key": point.key, "index": point.index, "overrides": point.overrides,
                               "status": "built", "finished_at": time.time(), **payload})
        if bar is not None:
            bar["built"](point)

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
    """A live line on a terminal: points compiled, benchmarked, failed, left; one line per finished point."""
    from neuroedge import progress

    if enabled is None:
        enabled = progress.enabled()
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    counts = {"ok": already, "failed": 0, "built": 0}
    prog = Progress(TextColumn("[bold]sweep"), BarColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                    console=Console(stderr=True))
    prog.start()

    def status() -> str:
        left = total - counts["ok"] - counts["failed"]
        return (f"compiled {counts['built']}  done {counts['ok']}  failed {counts['failed']}  left {left}"
                + (" (benchmarks wait for compiles to finish)" if counts["built"] > counts["ok"] - already else ""))

    task = prog.add_task("sweep", total=total, completed=already, status=status())

    def built(point: Point) -> None:
        counts["built"] += 1
        prog.update(task, status=status())

    def advance(point: Point, kind: str, payload: dict[str, Any]) -> None:
        counts["ok" if kind == "ok" else "failed"] += 1
        if kind == "ok":
            acc = payload.get("accuracy")
            rel = payload.get("p50_relative")
            line = (f"[green]✓[/] {point.label}: " + (f"{acc:.2f}% " if acc is not None else "")
                    + (f"p50 {payload['p50_ms'] * 1000:.1f} µs" if payload.get("p50_ms") else "")
                    + (f" ({rel:.2f}x probe)" if rel else ""))
        else:
            line = f"[red]✗[/] {point.label}: {payload.get('error', kind)}"
        prog.console.print(line, highlight=False)
        prog.update(task, advance=1, status=status())

    return {"advance": advance, "built": built, "stop": prog.stop}


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
