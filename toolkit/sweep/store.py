"""``OUT/results.jsonl``: one fsynced line per finished point; a rerun reads it to resume."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS = "results.jsonl"


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
