"""Accuracy against synaptic operations from ``neuroedge sweep`` folders (sigma-delta and rate-coded).

    neuroedge sweep examples/gesture_snn/pipeline_sdnn.toml -o out/sweep-sdnn \\
        --grid to-snn.delta_threshold=0,0.0025,0.005,0.01,0.02,0.04
    neuroedge sweep examples/gesture_snn/pipeline.toml -o out/sweep-rate --grid to-snn.timesteps=64,128,256
    .venv/bin/python examples/gesture_snn/sweep_plot.py out/sweep-sdnn out/sweep-rate -o out/snn_sweep.png

Each point's accuracy and operations come from the sweep's ``results.jsonl``: ``accuracy`` and the
runner's ``resources()`` (``synops_per_frame`` for sigma-delta, ``synops_per_sample`` for rate coding),
both over the same evaluation. ``compile``/``sweep`` run each frame as its own one-frame stream, so the
sigma-delta points are the cold cost of a frame (every activation sent from a zero state); the
benchmark's streams (``benchmarks/snn.py``, one per recording) show the warm cost, a few times lower.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def read_points(folder: Path) -> list[dict[str, Any]]:
    """(label, accuracy, synops, kind) of every finished point of a sweep folder."""
    out = []
    for line in (folder / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        res = r.get("resources") or {}
        synops = res.get("synops_per_frame", res.get("synops_per_sample"))
        if r.get("status") != "ok" or synops is None or r.get("accuracy") is None:
            continue
        kind = "sigma-delta" if "synops_per_frame" in res else "rate"
        short = {"timesteps": "T=", "delta_threshold": ""}  # the plot's labels stay short
        label = ", ".join(f"{short.get(k.split('.')[-1], k.split('.')[-1] + '=')}{v}"
                          for k, v in r.get("overrides", {}).items())
        out.append({"label": label, "accuracy": float(r["accuracy"]), "synops": float(synops), "kind": kind})
    return out


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    styles = {"sigma-delta": ("o-", "sigma-delta (graded), per frame, cold; label: delta threshold"),
              "rate": ("s--", "rate-coded LIF, per sample")}
    for kind, (fmt, name) in styles.items():
        pts = sorted((p for p in points if p["kind"] == kind), key=lambda p: p["synops"])
        if not pts:
            continue
        ax.plot([p["synops"] for p in pts], [p["accuracy"] for p in pts], fmt, label=name)
        for p in pts:
            ax.annotate(p["label"], (p["synops"], p["accuracy"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("synaptic operations per classification")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", type=Path, help="sweep folders (neuroedge sweep -o ...)")
    ap.add_argument("-o", "--output", type=Path, default=Path("out/snn_sweep.png"))
    args = ap.parse_args(argv)
    points = [p for folder in args.sweeps for p in read_points(folder)]
    if not points:
        raise SystemExit("no finished point with accuracy and synaptic operations in " + ", ".join(map(str, args.sweeps)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    plot(points, args.output)
    for p in sorted(points, key=lambda p: (p["kind"], p["synops"])):
        print(f"{p['kind']:12s} {p['label']:12s} {p['accuracy']:6.2f}%  {p['synops']:>14,.0f} synops")
    print(f"plot: {args.output}")


if __name__ == "__main__":
    main()
