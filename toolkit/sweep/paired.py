"""Paired probe timing: a point's calls and the reference probe's calls, alternating in small chunks.

Bracketing a point between two probes (``neuroedge.sweep.probe.Bracket``) cancels a machine that
changes speed over seconds, but not one that changes over milliseconds: on this project's shared
2-vCPU VM, under load, the p50 of one 50 ms round moved by up to 30% against probes taken 15 ms
before and after it, and the median relative p50 of 8 fresh sessions of one model spread over 31%.
When the point's target gives its timed call in this process (``runner.bench_call``), the sweep
instead alternates chunks of about ``CHUNK_S`` of the point's calls with chunks of about half that of
the probe's, round after round: each round's relative p50 is the point's p50 over the probe's p50
taken across the same milliseconds. Measured the same way (same machine, same load, 8 fresh
sessions): the rounds of one session agreed within 1% (median MAD) and the sessions within 4.6%.

A round is the usual one (at least ``iterations`` point calls and ``min_duration_s`` of them); the
point's relative p50 is the median over rounds; if the rounds' relative p50s spread by more than
``tolerance`` (MAD over median), the point is measured again, at most ``max_remeasure`` times, and
the record says so, as for the bracket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from neuroedge.bench import DEFAULT_ROUNDS, BenchConfig, LatencyReport, host_info, rounds_report, spread_pct

CHUNK_S = 0.002  # one chunk of point calls; the probe's chunk is half as long


Clock = Callable[[], int]


def _mean_call_s(call: Callable[[], Any], n: int, clock: Clock) -> float:
    t0 = clock()
    for _ in range(n):
        call()
    return max((clock() - t0) / 1e9 / n, 1e-7)


def paired_round(call: Callable[[], Any], probe_call: Callable[[], Any], iterations: int,
                 min_duration_s: float, n_point: int, n_probe: int,
                 clock: Clock = time.perf_counter_ns) -> tuple[np.ndarray, np.ndarray]:
    """One round: (point call times, probe call times) in ms, in alternating chunks."""
    a: list[int] = []
    b: list[int] = []
    deadline = clock() + int(min_duration_s * 1e9)
    while len(a) < iterations or clock() < deadline:
        for _ in range(n_point):
            t0 = clock()
            call()
            a.append(clock() - t0)
        for _ in range(n_probe):
            t0 = clock()
            probe_call()
            b.append(clock() - t0)
    return np.asarray(a, np.float64) / 1e6, np.asarray(b, np.float64) / 1e6


def paired_measure(call: Callable[[], Any], probe_call: Callable[[], Any], config: BenchConfig, target: str,
                   settings: dict[str, Any], tolerance: float, max_remeasure: int,
                   key: str = "", clock: Clock = time.perf_counter_ns) -> tuple[LatencyReport, dict[str, Any]]:
    """The point's report (its own call times, in rounds) and the probe record (see the module docstring)."""
    rounds = config.rounds or DEFAULT_ROUNDS
    t_start = clock()
    for _ in range(config.warmup):
        call()
    n_point = max(1, round(CHUNK_S / _mean_call_s(call, 3, clock)))
    n_probe = max(1, round(CHUNK_S / 2 / _mean_call_s(probe_call, 20, clock)))
    spreads: list[float] = []
    for _attempt in range(max_remeasure + 1):
        point_rounds, probe_p50, rel = [], [], []
        for _ in range(rounds):
            a, b = paired_round(call, probe_call, config.iterations, config.min_duration_s, n_point, n_probe,
                                clock)
            point_rounds.append(a)
            probe_p50.append(float(np.median(b)))
            rel.append(float(np.median(a)) / probe_p50[-1])
        spread = spread_pct(rel) or 0.0
        spreads.append(round(spread, 2))
        if spread <= tolerance * 100:
            break
    report = rounds_report((np.concatenate(point_rounds), [len(a) for a in point_rounds]), target,
                           warmup_iterations=config.warmup, batch=config.batch, settings=dict(settings),
                           host=host_info(), spread_threshold_pct=config.spread_threshold_pct)
    probe_mean = float(np.mean(probe_p50))
    return report, {
        "mode": "paired", "relative_p50": float(np.median(rel)), "relative_per_round": [round(v, 5) for v in rel],
        "probe_p50_ms": probe_mean, "probe_p50_per_round_ms": [round(v, 6) for v in probe_p50],
        "relative_spread_pct": spreads, "remeasured": len(spreads) - 1, "steady": spreads[-1] <= tolerance * 100,
        "chunk_calls": [n_point, n_probe], "key": key,
        "probe_s": round((clock() - t_start) / 1e9 - float(report.samples_ms.sum()) / 1000, 4),
    }
