"""The sweep's reference probe: bracketing, sharing between neighbours, and the re-measure rule."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuroedge.bench import LatencyReport
from neuroedge.sweep.probe import PROBE_BENCH, PROBE_INPUT, Bracket, probe_bundle, probe_plan


class Machine:
    """A machine whose speed factor the probe and the benchmark both see; the point can change it mid-way."""

    def __init__(self) -> None:
        self.factor = 1.0
        self.probes = 0

    def probe(self) -> float:
        self.probes += 1
        return 0.010 * self.factor  # the probe graph: 10 µs at full speed

    def point(self, slow_down_on: set[int], factor: float = 2.0) -> object:
        calls = {"n": 0}

        def bench() -> LatencyReport:
            calls["n"] += 1
            p50 = 0.030 * self.factor
            if calls["n"] in slow_down_on:  # the machine slows down half-way through this measurement
                self.factor *= factor
                p50 = (0.030 + 0.030 * self.factor) / 2
            return LatencyReport("fake", np.full(10, p50), 0)

        bench.calls = calls  # type: ignore[attr-defined]
        return bench


def test_steady_point_is_bracketed_once_and_made_relative(tmp_path: Path) -> None:
    m = Machine()
    bracket = Bracket(m.probe, tmp_path / "last.json", key="k")
    report, rec = bracket(m.point(set()))
    assert m.probes == 2 and rec["remeasured"] == 0 and rec["steady"]
    assert rec["relative_p50"] == pytest.approx(3.0) and rec["probe_p50_ms"] == pytest.approx(0.010)


def test_a_point_slowing_down_midway_is_measured_again_and_marked(tmp_path: Path) -> None:
    m = Machine()
    bench = m.point({1})  # the first measurement straddles a 2x slow-down; the second is steady
    report, rec = Bracket(m.probe, None, key="k")(bench)
    assert bench.calls["n"] == 2 and rec["remeasured"] == 1 and rec["steady"]
    assert rec["probe_change_pct"][0] == pytest.approx(100.0) and rec["probe_change_pct"][1] == 0.0
    # Measured again at the new speed: the relative figure is the same as on a steady machine.
    assert rec["relative_p50"] == pytest.approx(3.0)


def test_a_machine_that_keeps_changing_gets_two_retries_then_is_marked_unsteady(tmp_path: Path) -> None:
    m = Machine()
    bench = m.point({1, 2, 3}, factor=1.5)
    _, rec = Bracket(m.probe, None, key="k")(bench)
    assert bench.calls["n"] == 3 and rec["remeasured"] == 2 and rec["steady"] is False


def test_neighbouring_points_share_a_probe_within_the_window(tmp_path: Path) -> None:
    m = Machine()
    share = tmp_path / "probe-last.json"
    Bracket(m.probe, share, key="k")(m.point(set()))
    _, rec = Bracket(m.probe, share, key="k")(m.point(set()))
    assert m.probes == 3 and rec["shared_before"]  # 2 for the first point, 1 (after) for the second
    _, rec = Bracket(m.probe, share, key="other settings")(m.point(set()))
    assert m.probes == 5 and not rec["shared_before"]
    _, rec = Bracket(m.probe, share, key="other settings", share_window_s=0.0)(
        (time.sleep(0.01), m.point(set()))[1])
    assert m.probes == 7 and not rec["shared_before"]


def test_probe_plan_per_target() -> None:
    assert probe_plan("onnxruntime", {"threads": 2}) == ("onnxruntime", {"threads": 2})
    # Same target, same settings: the torch target runs the probe in eager.
    assert probe_plan("torch", {"threads": 1}) == ("torch", {"threads": 1})
    assert probe_plan("snn-fast", {"threads": 2}) == ("onnxruntime", {"threads": 2})  # a CPU target without ONNX
    why = probe_plan("mcu", {"device": "host://"})
    assert isinstance(why, str) and why.startswith("no probe") and "mcu" in why


def test_the_real_probe_is_short(tmp_path: Path) -> None:
    from neuroedge.registry import open_runner

    runner = open_runner(probe_bundle(tmp_path), "onnxruntime", {"threads": 1})
    try:
        rep = runner.benchmark([PROBE_INPUT], PROBE_BENCH)
    finally:
        runner.close()
    assert rep.iterations >= PROBE_BENCH.iterations and 0 < rep.p50_ms < 1.0
    # Its budget: at most 50 ms of calls at the machine's speed (time the OS gives other processes
    # mid-call is not the probe's: on this shared 2-core VM a preempted call can take milliseconds).
    assert rep.p50_ms * rep.iterations <= 50.0, "the probe must time at most 50 ms"
    assert probe_bundle(tmp_path).path == (tmp_path / "probe-v1")  # built once, then reused


def test_report_ranks_probe_relative_latency(tmp_path: Path) -> None:
    """A point measured during a slow spell (raw p50 doubled, probe doubled) is not pushed off the front."""
    from neuroedge.sweep_report import write_report

    def rec(i: int, acc: float, p50: float, probe: float) -> dict:
        return {"key": str(i), "index": i, "overrides": {"bits": i}, "status": "ok", "accuracy": acc,
                "p50_ms": p50, "p50_relative": p50 / probe, "model_bytes": 100,
                "probe": {"probe_p50_ms": probe, "key": "k", "remeasured": 0, "steady": True}}

    # b is the better design (more accurate, same relative cost) but was timed while the machine ran at half speed.
    records = [rec(0, 95.0, 0.010, 0.010), rec(1, 97.0, 0.020, 0.020)]
    write_report(tmp_path, records)
    rows = [ln for ln in (tmp_path / "report.md").read_text().splitlines() if ln.startswith("| ")][1:]
    marks = {ln.split("|")[2].strip(): ln.split("|")[1].strip() for ln in rows}
    # Relative to the probe both cost the same, so the more accurate one alone is on the front (raw p50s
    # would have kept both: the slow spell would have made b look twice as slow).
    assert marks == {"bits=0": "", "bits=1": "*"}
    assert "relative to the reference probe" in (tmp_path / "report.md").read_text()
    assert records[1]["p50_at_median_probe_ms"] == pytest.approx(0.015)


class FakeClock:
    """A machine in simulated time: each call advances the clock by its cost times the speed factor."""

    def __init__(self) -> None:
        self.t, self.factor, self.calls = 0, 1.0, 0

    def __call__(self) -> int:
        return self.t

    def work(self, ns: int) -> Any:
        def call() -> None:
            self.calls += 1
            self.t += int(ns * self.factor)
        return call


def test_paired_timing_cancels_a_machine_that_changes_speed_mid_round() -> None:
    from neuroedge.bench import BenchConfig
    from neuroedge.sweep.paired import paired_measure

    clk = FakeClock()
    point, probe = clk.work(30_000), clk.work(10_000)
    n = {"point": 0}

    def slowing_point() -> None:  # the machine halves its speed every 700 point calls, probe and point alike
        point()
        n["point"] += 1
        if n["point"] % 700 == 0:
            clk.factor *= 2.0

    cfg = BenchConfig(iterations=200, warmup=5, min_duration_s=0.005, rounds=5, warn=False)
    report, rec = paired_measure(slowing_point, probe, cfg, "fake", {}, tolerance=0.10, max_remeasure=2, clock=clk)
    assert rec["mode"] == "paired" and rec["steady"] and rec["remeasured"] == 0
    assert rec["relative_p50"] == pytest.approx(3.0, rel=0.02)
    assert report.rounds == 5 and report.samples_ms.max() >= 0.060  # the raw times saw the slow-down


def test_paired_timing_remeasures_a_point_whose_rounds_disagree() -> None:
    from neuroedge.bench import BenchConfig
    from neuroedge.sweep.paired import paired_measure

    clk = FakeClock()
    probe = clk.work(10_000)
    n = {"point": 0}
    pattern = (1.0, 2.0, 1.0, 2.0, 1.5)  # the point alone is 1x or 2x slower from one round to the next

    def point() -> None:
        clk.t += int(30_000 * pattern[(n["point"] // 134) % len(pattern)])  # 134 calls: one round (2 chunks)
        n["point"] += 1

    cfg = BenchConfig(iterations=100, warmup=5, min_duration_s=0.0, rounds=5, warn=False)
    _, rec = paired_measure(point, probe, cfg, "fake", {}, tolerance=0.10, max_remeasure=2, clock=clk)
    assert rec["remeasured"] == 2 and rec["steady"] is False and len(rec["relative_spread_pct"]) == 3


def test_paired_p10_ratio_ignores_delays_that_hit_the_long_call_only() -> None:
    """Other work on the machine adds time to some calls; the p10 ratio reads the undisturbed speed."""
    from neuroedge.bench import BenchConfig
    from neuroedge.sweep.paired import paired_measure

    clk = FakeClock()
    probe = clk.work(10_000)
    n = {"point": 0}

    def point() -> None:  # every other call of the long point is preempted for 50 µs; the short probe never is
        n["point"] += 1
        clk.t += 30_000 + (50_000 if n["point"] % 2 else 0)

    cfg = BenchConfig(iterations=100, warmup=5, min_duration_s=0.0, rounds=5, warn=False)
    _, rec = paired_measure(point, probe, cfg, "fake", {}, tolerance=0.03, max_remeasure=0, clock=clk)
    assert rec["relative_p10"] == pytest.approx(3.0, rel=1e-6)
    assert rec["relative_p50"] > 4.0  # the p50 lands among the preempted calls


def test_paired_timing_keeps_the_steadiest_attempt() -> None:
    from neuroedge.bench import BenchConfig
    from neuroedge.sweep.paired import paired_measure

    clk = FakeClock()
    probe = clk.work(10_000)
    n = {"point": 0}

    def point() -> None:  # the first attempt's rounds slow down round by round; after it the point is steady
        k = (n["point"] - 3) // 134  # 3 calls size the chunks; then 134 calls a round (2 chunks)
        clk.t += int(30_000 * (1.0 + 0.5 * k if 0 <= k < 5 else 1.0))
        n["point"] += 1

    cfg = BenchConfig(iterations=100, warmup=0, min_duration_s=0.0, rounds=5, warn=False)
    _, rec = paired_measure(point, probe, cfg, "fake", {}, tolerance=0.03, max_remeasure=2, clock=clk)
    assert rec["remeasured"] == 1 and rec["steady"] is True
    assert rec["relative_p50"] == pytest.approx(3.0, rel=1e-6)


def test_paired_timing_marks_a_slow_spell_the_ratio_does_not_cancel() -> None:
    """In a spell the probe runs 2x slower and the point 3x: the rounds agree, but the probe is slower than
    this node's usual probe, so the record marks the point as measured in a slow spell."""
    from neuroedge.bench import BenchConfig
    from neuroedge.sweep.paired import paired_measure

    clk = FakeClock()
    probe, point = clk.work(20_000), clk.work(90_000)
    cfg = BenchConfig(iterations=100, warmup=5, min_duration_s=0.0, rounds=5, warn=False)
    _, rec = paired_measure(point, probe, cfg, "fake", {}, tolerance=0.03, max_remeasure=2, clock=clk,
                            usual_probe_ms=0.010)
    assert rec["remeasured"] == 0 and rec["slow_spell"] is True
    assert rec["probe_slower_than_usual_pct"] == [100.0]
    _, rec = paired_measure(clk.work(30_000), clk.work(10_000), cfg, "fake", {}, tolerance=0.03, max_remeasure=2,
                            clock=clk, usual_probe_ms=0.010)
    assert rec["slow_spell"] is False and rec["relative_p50"] == pytest.approx(3.0, rel=1e-6)


def test_a_point_benchmarked_in_a_slow_spell_is_deferred_once_and_the_faster_probe_kept() -> None:
    from neuroedge.sweep.grid import Point
    from neuroedge.sweep.local import defer_if_slow

    def result(slow_pct: float, rel: float) -> dict:
        return {"p50_relative": rel, "probe": {"slow_spell": slow_pct > 15, "probe_slower_than_usual_pct": [slow_pct],
                                               "kept_attempt": 0}}

    p = Point(index=0, overrides={}, config={}, key="k")
    assert defer_if_slow(p, result(40.0, 0.92)) is None  # first slow result: measure again later
    kept = defer_if_slow(p, result(2.0, 0.78))
    assert kept["p50_relative"] == 0.78 and kept["probe"]["deferred_for_slow_spell"] == 1
    q = Point(index=1, overrides={}, config={}, key="q")
    assert defer_if_slow(q, result(40.0, 0.92)) is None
    kept = defer_if_slow(q, result(60.0, 0.95))  # still slow: no second deferral, the faster probe's result is kept
    assert kept["p50_relative"] == 0.92
    assert defer_if_slow(Point(index=2, overrides={}, config={}, key="r"), result(3.0, 0.5))["p50_relative"] == 0.5


def test_the_usual_probe_speed_is_the_fastest_of_the_last_hour(tmp_path: Path) -> None:
    import json

    from neuroedge.sweep.probe import USUAL_MAX_AGE_S

    b = Bracket(lambda: 0.01, tmp_path / "probe-last-bench.json", key="k")
    assert b._usual() is None
    b._keep_usual(0.020)
    b._keep_usual(0.030)  # slower: the usual stays the fastest
    assert b._usual() == 0.020
    (tmp_path / "probe-usual.json").write_text(json.dumps({"k": [0.005, time.time() - USUAL_MAX_AGE_S - 60]}))
    assert b._usual() is None  # a minimum older than an hour no longer marks every point slow
    b._keep_usual(0.030)
    assert b._usual() == 0.030
