"""Benchmark results files: every JSON under benchmarks/results/ says which code made it, and when."""

from __future__ import annotations

import datetime as _dt
import subprocess
from pathlib import Path
from typing import Any

from neuroedge.bundle import atomic_write_json

RESULTS_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def git_commit() -> str:
    """The HEAD commit (with ``-dirty`` when tracked code has changes), or ``unknown`` outside git.

    Changes under ``benchmarks/results/`` alone do not count: one benchmark's fresh JSON must not mark
    the next benchmark of the same ``make bench`` run as made by uncommitted code.
    """
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benchmarks/results"],
            cwd=root, capture_output=True, text=True,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def stamp(data: dict[str, Any]) -> dict[str, Any]:
    """Add ``git_commit`` and ``generated_at`` (UTC, ISO 8601) to a results dict."""
    return {
        "git_commit": git_commit(),
        "generated_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **data,
    }


def write_results(name: str, data: dict[str, Any], folder: Path | None = None) -> Path:
    """Write ``benchmarks/results/<name>.json`` atomically, stamped with commit and time."""
    path = (folder or RESULTS_DIR) / f"{name}.json"
    atomic_write_json(path, stamp(data))
    return path
