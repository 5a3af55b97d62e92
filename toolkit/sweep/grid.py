"""A sweep's grid: ``--grid KEY=V1,V2`` parsed, expanded into validated points, each keyed by content."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroedge.pipeline import ConfigError, _parse_scalar, apply_override, validate


class SweepError(Exception):
    """A sweep that cannot run; the message names the grid key, the point or the option."""


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
    slow_benches: list[dict[str, Any]] = field(default_factory=list)  # results taken in a host slow spell


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
