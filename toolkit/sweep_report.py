"""A sweep's report: ``report.md`` (every point, the Pareto front marked) and ``pareto.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neuroedge.bundle import atomic_write_bytes


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: higher accuracy and lower latency (x=latency, y=acc)."""
    front = []
    for i, (lat, acc) in enumerate(points):
        dominated = any(
            (l2 <= lat and a2 >= acc) and (l2 < lat or a2 > acc) for j, (l2, a2) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def _label(rec: dict[str, Any]) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in rec.get("overrides", {}).items())


def write_report(outdir: Path, records: list[dict[str, Any]]) -> None:
    ok = [r for r in records if r.get("status") == "ok" and r.get("accuracy") is not None and r.get("p50_ms")]
    front = {id(ok[i]) for i in pareto_front([(r["p50_ms"], r["accuracy"]) for r in ok])}
    lines = ["# Sweep report", "", f"{len(records)} points, {sum(r.get('status') == 'ok' for r in records)} ok, "
             f"{sum(r.get('status') != 'ok' for r in records)} failed. `*` marks the Pareto front "
             "(accuracy vs p50 latency).", "",
             "| | point | accuracy % | p50 µs | model bytes | status |", "|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: r.get("index", 0)):
        acc = f"{r['accuracy']:.2f}" if r.get("accuracy") is not None else ""
        p50 = f"{r['p50_ms'] * 1000:.1f}" if r.get("p50_ms") else ""
        status = r.get("status", "?") if r.get("status") == "ok" else f"failed: {r.get('error', '')}"
        mark = "*" if id(r) in front else ""
        lines.append(f"| {mark} | {_label(r)} | {acc} | {p50} | {r.get('model_bytes', '')} | {status} |")
    lines += ["", "![Pareto front](pareto.png)", ""]
    atomic_write_bytes(outdir / "report.md", "\n".join(lines).encode())
    if ok:
        plot_pareto(ok, [r for r in ok if id(r) in front], outdir / "pareto.png")


def plot_pareto(ok: list[dict[str, Any]], front: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sizes = np.array([float(r.get("model_bytes") or 1) for r in ok])
    area = 30 + 400 * sizes / sizes.max()
    lat = np.array([r["p50_ms"] * 1000 for r in ok])
    fig, ax = plt.subplots(figsize=(8, 5))
    # One colour per target: a sweep over targets spans decades, and the colour says which is which.
    targets = sorted({str(r.get("summary", {}).get("target") or r.get("overrides", {}).get("target", ""))
                      for r in ok})
    palette = ["#4c72b0", "#55a868", "#8172b2", "#ccb974", "#64b5cd", "#937860"]
    for n, target in enumerate(targets):
        idx = [i for i, r in enumerate(ok)
               if str(r.get("summary", {}).get("target") or r.get("overrides", {}).get("target", "")) == target]
        ax.scatter(lat[idx], [ok[i]["accuracy"] for i in idx], s=area[idx], alpha=0.45,
                   color=palette[n % len(palette)], label=f"{target or 'points'} (area ∝ model bytes)")
    fx = [r["p50_ms"] * 1000 for r in front]
    fy = [r["accuracy"] for r in front]
    ax.step(fx, fy, where="post", color="#c44e52", label="Pareto front")
    ax.scatter(fx, fy, color="#c44e52", s=25, zorder=3)
    for r in front:
        ax.annotate(_label(r), (r["p50_ms"] * 1000, r["accuracy"]), textcoords="offset points",
                    xytext=(5, -10), fontsize=7)
    if lat.max() > 20 * lat.min():  # latencies across decades: a linear axis crushes the fast points
        ax.set_xscale("log")
    ax.set_xlabel("p50 latency, batch 1 (µs)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Sweep: accuracy vs latency")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
