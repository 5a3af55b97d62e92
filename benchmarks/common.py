"""What every benchmark script shares: where results go, how they are stamped, plots, interleaved rounds.

Benchmarks run from the repository root with the package installed (``pip install -e .``)::

    .venv/bin/python benchmarks/foundation.py

The script's own folder is on ``sys.path``, so a script imports this module as ``common``; tests
import it as ``benchmarks.common`` (pytest's ``pythonpath = ["."]``). Example models and data are
named the way a user names their own model (``examples.digits.models:digits_mlp``) and resolved by
``neuroedge.modelref.import_object`` from the current folder, the repository root.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from neuroedge.bench import LatencyReport, interleaved_rounds, rounds_report
from neuroedge.modelref import import_object
from neuroedge.results import RESULTS_DIR, git_commit, stamp, write_results

__all__ = ["REPO", "RESULTS_DIR", "example", "git_commit", "stamp", "write_results", "pyplot", "save_figure",
           "compare_interleaved", "round_summary"]

REPO = Path(__file__).resolve().parents[1]


def example(ref: str) -> Any:
    """An object from the examples (``examples.digits.train:ensure_trained``), resolved from the repo root."""
    if Path.cwd().resolve() != REPO:
        os.chdir(REPO)  # benchmarks read .cache/ and examples/ relative to the repository root
    return import_object(ref)


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, dpi: int = 120) -> Path:
    """Save a figure as PNG atomically (a temp file in the same folder, then a rename) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".png")
    os.close(fd)
    try:
        fig.tight_layout()
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        pyplot().close(fig)
    return path


def compare_interleaved(variants: Mapping[str, Callable[[], np.ndarray | LatencyReport]], rounds: int,
                        verbose: bool = False) -> dict[str, LatencyReport]:
    """Time several variants in interleaved rounds (``neuroedge.bench.interleaved_rounds``), one report each.

    Each report's p50 pools all its rounds' samples; its ``p50_spread_pct`` is the spread of the round p50s.
    """
    def show(r: int, name: str, samples: np.ndarray) -> None:
        print(f"  round {r + 1}/{rounds} {name:24s} p50 {np.percentile(samples, 50) * 1000:8.2f} µs", flush=True)

    res = interleaved_rounds(variants, rounds, on_round=show if verbose else None)
    return {name: rounds_report(samples, name, warmup_iterations=0) for name, samples in res.items()}


def round_summary(report: LatencyReport) -> dict[str, Any]:
    """A report's round statistics for a results file."""
    data = report.to_json(include_samples=False)
    return {k: data[k] for k in ("rounds", "p50_per_round_ms", "p50_spread_pct", "unstable")}
