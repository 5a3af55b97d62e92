"""A sweep's report: ``report.md`` (every point, the Pareto front marked) and ``pareto.png``.

The front ranks latency relative to the reference probe (``neuroedge.sweep.probe``) when every
benchmarked point has one, since a raw p50 also ranks the moment it was measured in; otherwise (a
board without a probe in the grid) it ranks raw p50s, and the report says which.
"""

from __future__ import annotations

import statistics
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


def normalise(ok: list[dict[str, Any]]) -> None:
    """Set ``p50_at_median_probe_ms`` on each probed point: its relative p50 times the sweep's median probe p50.

    That is the point's latency at the machine's typical speed during the sweep, in ms again; points
    divided by the same probe keep their ratios exactly, so the front is the relative front.
    """
    by_key: dict[str, list[float]] = {}
    for r in ok:
        probe = r.get("probe") or {}
        if r.get("p50_relative") and probe.get("probe_p50_ms"):
            by_key.setdefault(str(probe.get("key", "")), []).append(float(probe["probe_p50_ms"]))
    medians = {k: statistics.median(v) for k, v in by_key.items()}
    for r in ok:
        key = str((r.get("probe") or {}).get("key", ""))
        if r.get("p50_relative") and key in medians:
            r["p50_at_median_probe_ms"] = r["p50_relative"] * medians[key]


def latency_key(ok: list[dict[str, Any]]) -> tuple[str, str]:
    """Which latency the front ranks: probe-normalised if every point has a probe, else the raw p50."""
    normalise(ok)
    if ok and all(r.get("p50_at_median_probe_ms") for r in ok):
        return "p50_at_median_probe_ms", "p50 at the sweep's median probe speed, batch 1 (µs)"
    return "p50_ms", "raw p50 latency, batch 1 (µs)"


def write_report(outdir: Path, records: list[dict[str, Any]]) -> None:
    ok = [r for r in records if r.get("status") == "ok" and r.get("accuracy") is not None and r.get("p50_ms")]
    key, axis = latency_key(ok)
    front = {id(ok[i]) for i in pareto_front([(r[key], r["accuracy"]) for r in ok])}
    ranked = ("p50 relative to the reference probe: the point's p50 over the p50 of a fixed ONNX graph timed "
              "in alternating chunks with it (or right before and after it), shown in µs at the sweep's median "
              "probe speed"
              if key != "p50_ms" else "raw p50 latency (some points have no probe)")
    lines = ["# Sweep report", "", f"{len(records)} points, {sum(r.get('status') == 'ok' for r in records)} ok, "
             f"{sum(r.get('status') != 'ok' for r in records)} failed. `*` marks the Pareto front "
             f"(accuracy vs {ranked}).", "",
             "| | point | accuracy % | p50 µs (raw) | p50 / probe | p10 / probe | p50 µs at median probe speed "
             "| spread % | remeasured | model bytes | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    omitted = []
    for r in sorted(records, key=lambda r: r.get("index", 0)):
        acc = f"{r['accuracy']:.2f}" if r.get("accuracy") is not None else ""
        p50 = f"{r['p50_ms'] * 1000:.1f}" if r.get("p50_ms") else ""
        probe = r.get("probe") or {}
        rel = f"{r['p50_relative']:.3f}" if r.get("p50_relative") else ""
        rel10 = f"{r['p10_relative']:.3f}" if r.get("p10_relative") else ""
        norm = f"{r['p50_at_median_probe_ms'] * 1000:.1f}" if r.get("p50_at_median_probe_ms") else ""
        spread = (r.get("latency") or {}).get("p50_spread_pct")
        again = (f"{probe['remeasured']}" + ("" if probe.get("steady", True) else " (still unsteady)")
                 + (" (slow spell: probe {}% slower than usual)".format(
                     probe["probe_slower_than_usual_pct"][probe.get("kept_attempt", 0)]) if probe.get("slow_spell")
                    else "")
                 if "remeasured" in probe else "")
        if probe.get("omitted"):
            omitted.append(f"{_label(r)}: {probe['omitted']}")
        status = r.get("status", "?") if r.get("status") == "ok" else f"failed: {r.get('error', '')}"
        mark = "*" if id(r) in front else ""
        lines.append(f"| {mark} | {_label(r)} | {acc} | {p50} | {rel} | {rel10} | {norm} | "
                     f"{'' if spread is None else f'{spread:.1f}'} | {again} | {r.get('model_bytes', '')} | {status} |")
    if omitted:
        lines += ["", "Points without a probe:", *[f"- {o}" for o in omitted]]
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
    key, axis = latency_key(ok)
    scale = 1000.0
    lat = np.array([r[key] * scale for r in ok])
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
    fx = [r[key] * scale for r in front]
    fy = [r["accuracy"] for r in front]
    ax.step(fx, fy, where="post", color="#c44e52", label="Pareto front")
    ax.scatter(fx, fy, color="#c44e52", s=25, zorder=3)
    for r in front:
        ax.annotate(_label(r), (r[key] * scale, r["accuracy"]), textcoords="offset points",
                    xytext=(5, -10), fontsize=7)
    if lat.max() > 20 * lat.min():  # latencies across decades: a linear axis crushes the fast points
        ax.set_xscale("log")
    ax.set_xlabel(axis)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Sweep: accuracy vs latency")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)
    plt.close(fig)
