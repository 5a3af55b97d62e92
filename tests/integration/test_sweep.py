"""Sweeps with real worker processes and a real local Ray: resume, exclusivity, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from neuroedge.pipeline import load_config
from neuroedge.sweep import SweepError, file_lock_slot, parse_grid, read_results, sweep

REPO = Path(__file__).resolve().parents[2]
# The grid: bits x split x target, 12 points on the digits MLP.
GRID = ["splitquant.bits=2,4,8", "splitquant.split=true,false", "target=onnxruntime,torch"]

CONFIG = """
name = "mlp"
[model]
ref = "examples.digits.models:digits_mlp"
weights = "{weights}"
input_shape = [1, 64]
{prepare}
[data]
ref = "examples.digits.data:test_set"
limit = 200
[[steps]]
converter = "splitquant"
params = {{ bits = 4, check_samples = 2 }}
[target]
name = "onnxruntime"
[bench]
iterations = 200
warmup = 20
min_duration_s = 0.05
"""


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from examples.digits.models import digits_mlp

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "mlp.pt"
    torch.save(digits_mlp().state_dict(), path)
    return path


def _config(tmp_path: Path, weights: Path, prepare: str = "") -> Path:
    p = tmp_path / "sweep.toml"
    p.write_text(CONFIG.format(weights=weights, prepare=f'prepare = "{prepare}"' if prepare else ""))
    return p


def _no_overlap(windows: list[list[float]]) -> None:
    windows = sorted(windows)
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert start >= end - 1e-6, f"two benchmarks overlapped: {windows}"


def _accuracies(records: dict) -> dict:
    return {json.dumps(r["overrides"], sort_keys=True): r["accuracy"] for r in records.values()}


def test_local_and_ray_agree_and_benchmarks_never_overlap(tmp_path: Path, weights: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'neuroedge[ray]'")
    cfg = load_config(_config(tmp_path, weights))
    grid = parse_grid(GRID)
    local = sweep(cfg, grid, tmp_path / "local", workers=2, lock_dir=tmp_path / "locks", progress=False)
    recs = local["records"]
    assert len(recs) == 12 and all(r["status"] == "ok" for r in recs.values())
    _no_overlap([r["bench_window"] for r in recs.values()])
    assert (tmp_path / "local" / "report.md").read_text().count("| ok |") == 12
    assert (tmp_path / "local" / "pareto.png").stat().st_size > 1000

    ray_run = sweep(cfg, grid, tmp_path / "ray", backend="ray", progress=False,
                    ray_init={"num_cpus": 2, "resources": {"mcu": 1, "bench": 1}})
    assert all(r["status"] == "ok" for r in ray_run["records"].values())
    assert _accuracies(ray_run["records"]) == _accuracies(recs)
    _no_overlap([r["bench_window"] for r in ray_run["records"].values()])


def test_resume_after_kill_runs_only_missing_points(tmp_path: Path, weights: Path) -> None:
    cfg_path = _config(tmp_path, weights)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "neuroedge.cli", "sweep", str(cfg_path), "-o", str(out), "--workers", "1"]
    for g in GRID:
        args += ["--grid", g]
    proc = subprocess.Popen(args, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline:
        if (out / "results.jsonl").exists() and (out / "results.jsonl").read_text().count('"status": "ok"') >= 2:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {k: r for k, r in read_results(out).items() if r["status"] == "ok"}
    assert 2 <= len(before) < 12
    res = sweep(load_config(cfg_path), parse_grid(GRID), out, workers=2, lock_dir=tmp_path / "locks", progress=False)
    assert len(res["ran"]) == 12 - len(before)
    assert set(res["skipped"]) == set(before)
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines() if x.strip()]
    keys = [x["key"] for x in lines if x.get("status") == "ok"]
    assert len(keys) == len(set(keys)) == 12


def test_killed_worker_is_retried_once_then_failed(tmp_path: Path, weights: Path, monkeypatch) -> None:
    monkeypatch.setenv("NEUROEDGE_TEST_MARKERS", str(tmp_path))
    once = sweep(load_config(_config(tmp_path, weights, "tests.sweep_fixtures:die_once")),
                 parse_grid(["target=onnxruntime"]), tmp_path / "once", workers=1, lock_dir=tmp_path / "l",
                 progress=False)
    (rec,) = once["records"].values()
    assert rec["status"] == "ok" and rec["attempts"] == 2
    always = sweep(load_config(_config(tmp_path, weights, "tests.sweep_fixtures:die_always")),
                   parse_grid(["target=onnxruntime,torch"]), tmp_path / "always", workers=2,
                   lock_dir=tmp_path / "l", progress=False)
    for rec in always["records"].values():
        assert rec["status"] == "failed" and rec["attempts"] == 2 and "worker died twice" in rec["error"]


def test_exclusive_slot_across_processes(tmp_path: Path) -> None:
    """Four processes each take the {"mcu": 1} slot; their hold windows never overlap."""
    code = (
        "import sys, time, json; from pathlib import Path; from neuroedge.sweep import file_lock_slot\n"
        "with file_lock_slot({'mcu': 1}, Path(sys.argv[1])):\n"
        "    t0 = time.time(); time.sleep(0.3); print(json.dumps([t0, time.time()]))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    windows = [json.loads(p.communicate()[0]) for p in procs]
    _no_overlap(windows)
    with file_lock_slot({"bench": 1, "mcu": 1}, tmp_path):
        pass


@pytest.mark.parametrize(("grid", "msg"), [
    (["nosuch.key=1,2"], "neither a config section nor a step's converter"),
    (["splitquant.bits=abc"], "'bits': expected int"),
    (["splitquant.bitz=2"], "unknown parameter 'bitz'"),
    (["splitquant.bits=9"], "bits"),
    (["target=tpu"], "unknown target 'tpu'"),
    (["target"], "expected KEY=V1,V2"),
])
def test_bad_grid(tmp_path: Path, weights: Path, grid: list[str], msg: str) -> None:
    with pytest.raises((SweepError, Exception), match=msg):
        sweep(load_config(_config(tmp_path, weights)), parse_grid(grid), tmp_path / "o", progress=False)


def test_ray_missing_and_unreachable(tmp_path: Path, weights: Path, monkeypatch) -> None:
    cfg = load_config(_config(tmp_path, weights))
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "ray", None)  # as if Ray were not installed
        with pytest.raises(SweepError, match=r"pip install 'neuroedge\[ray\]'"):
            sweep(cfg, parse_grid(["target=onnxruntime"]), tmp_path / "o", backend="ray", progress=False)
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'neuroedge[ray]'")
    t0 = time.time()
    with pytest.raises(SweepError, match="unreachable"):
        sweep(cfg, parse_grid(["target=onnxruntime"]), tmp_path / "o2", backend="ray", address="127.0.0.1:1",
              progress=False)
    assert time.time() - t0 < 30


def test_cpu_benchmark_waits_for_a_quiet_node(tmp_path: Path) -> None:
    """Compiles hold the node gate shared, a CPU benchmark exclusive; a waiting benchmark is not starved.

    A compile holds the gate; a benchmark asks for it; then a second compile asks. The benchmark must
    start after the first compile ends, and the second compile only after the benchmark.
    """
    code = (
        "import sys, time, json; from pathlib import Path; from neuroedge.sweep import NodeGate, bench_slot\n"
        "kind, hold = sys.argv[2], float(sys.argv[3])\n"
        "ctx = NodeGate(Path(sys.argv[1])).shared() if kind == 'work' else bench_slot({'bench': 1}, Path(sys.argv[1]))\n"
        "print('asking', flush=True)\n"
        "with ctx:\n"
        "    print('holding', flush=True); t0 = time.time(); time.sleep(hold); print(json.dumps([t0, time.time()]))\n"
    )

    def start(kind: str, hold: float, wait_for: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path), kind, str(hold)],
                                stdout=subprocess.PIPE, text=True)
        while proc.stdout.readline().strip() != wait_for:
            assert proc.poll() is None, "helper process died"
        return proc

    def window(proc: subprocess.Popen) -> list[float]:
        lines = [ln for ln in proc.communicate()[0].splitlines() if ln.startswith("[")]
        return json.loads(lines[-1])

    first = start("work", 1.5, "holding")
    bench = start("bench", 0.5, "asking")
    time.sleep(0.3)  # the benchmark is now queued at the turnstile
    second = start("work", 0.2, "asking")
    w1, b, w2 = window(first), window(bench), window(second)
    assert b[0] >= w1[1] - 1e-3, f"benchmark started while a compile ran: {w1} {b}"
    assert w2[0] >= b[1] - 1e-3, f"a compile started during the benchmark (or jumped the queue): {b} {w2}"
    # Two compiles do overlap: the gate is shared for work. (The first holds long enough for a second
    # Python process to start on a loaded machine: 2.7 s was seen on this 2-core VM.)
    a = start("work", 5.0, "holding")
    c = start("work", 0.1, "holding")
    wa, wc = window(a), window(c)
    assert wc[0] < wa[1], f"two compiles were serialised: {wa} {wc}"


def test_a_point_built_before_a_kill_is_only_benchmarked(tmp_path: Path, weights: Path) -> None:
    """Compiled and evaluated points are recorded as "built": a rerun benchmarks them without recompiling."""
    cfg, grid = load_config(_config(tmp_path, weights)), parse_grid(["target=onnxruntime,torch"])
    out = tmp_path / "out"
    sweep(cfg, grid, out, workers=2, lock_dir=tmp_path / "locks", progress=False)
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    built = {x["key"]: x for x in lines if x["status"] == "built"}
    assert len(built) == 2
    # As if killed after both compiles, before either benchmark.
    (out / "results.jsonl").write_text("".join(json.dumps(x) + "\n" for x in built.values()))
    bundles = {k: Path(x["bundle"]).stat().st_mtime_ns for k, x in built.items()}
    res = sweep(cfg, grid, out, workers=2, lock_dir=tmp_path / "locks", progress=False)
    assert sorted(res["ran"]) == sorted(built)
    for key, rec in res["records"].items():
        assert rec["status"] == "ok" and rec["p50_ms"] > 0
        # Each CPU benchmark is timed against the reference probe (same target and threads, same slot):
        # onnxruntime and torch give their timed call, so the two alternate in chunks (paired).
        probe = rec["probe"]
        assert probe["mode"] == "paired" and probe["probe_p50_ms"] > 0 and 0 <= probe["remeasured"] <= 2
        assert len(probe["relative_per_round"]) == rec["latency"]["rounds"]
        assert rec["p50_relative"] == probe["relative_p50"] == pytest.approx(np.median(probe["relative_per_round"]), rel=1e-4)
        assert rec["p50_relative"] == pytest.approx(rec["p50_ms"] / probe["probe_p50_ms"], rel=0.5)
        assert rec["accuracy"] == built[key]["accuracy"] and rec["start"] == built[key]["start"]
        assert Path(rec["bundle"]).stat().st_mtime_ns == bundles[key], "the point was compiled again"
