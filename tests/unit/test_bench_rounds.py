"""The harness's rounds: per-round p50s, their spread (MAD, % of the p50), and the unstable flag."""

from __future__ import annotations

import time

import numpy as np
import pytest

from neuroedge.bench import BenchConfig, LatencyReport, interleaved_rounds, spread_pct, time_callable


class JumpingRunner:
    """A synthetic runner whose call takes ``slow_s`` instead of ``fast_s`` from the ``jump_at``-th call on."""

    def __init__(self, fast_s: float, slow_s: float, jump_at: int) -> None:
        self.fast_s, self.slow_s, self.jump_at, self.calls = fast_s, slow_s, jump_at, 0

    def __call__(self) -> None:
        self.calls += 1
        delay = self.slow_s if self.calls > self.jump_at else self.fast_s
        end = time.perf_counter() + delay
        while time.perf_counter() < end:  # busy-wait: sleep() is too coarse at this scale
            pass


def test_a_latency_jump_halfway_is_flagged_unstable(capsys: pytest.CaptureFixture[str]) -> None:
    # 4 rounds of 20 calls: rounds 1-2 at 0.2 ms, rounds 3-4 at 0.6 ms.
    fn = JumpingRunner(0.0002, 0.0006, jump_at=40)
    cfg = BenchConfig(iterations=20, warmup=0, min_duration_s=0.0, rounds=4, progress=False)
    rep = time_callable(fn, cfg, target="jumpy")
    data = rep.to_json(include_samples=False)
    assert data["rounds"] == 4 and rep.round_sizes == [20, 20, 20, 20]
    p50s = data["p50_per_round_ms"]
    assert p50s[0] < 0.35 and p50s[1] < 0.35 and p50s[2] > 0.5 and p50s[3] > 0.5
    assert data["p50_spread_pct"] > 5.0 and data["unstable"] is True
    err = capsys.readouterr().err
    assert "may be unstable" in err and "jumpy" in err and len(err.strip().splitlines()) == 1
    # Every key the harness reported before rounds existed is still there.
    assert {"latency_ms", "throughput_per_s", "iterations", "warmup_iterations", "target", "host",
            "settings", "batch", "clock"} <= set(data)


def test_a_steady_callable_is_stable(capsys: pytest.CaptureFixture[str]) -> None:
    fn = JumpingRunner(0.0003, 0.0003, jump_at=0)
    rep = time_callable(fn, BenchConfig(iterations=30, warmup=5, min_duration_s=0.0, rounds=5, progress=False))
    assert rep.rounds == 5 and rep.iterations == 150
    # A busy-wait of 0.3 ms is 0.3 ms on any machine that gives us the core; allow a loaded one 5%.
    assert rep.p50_spread_pct is not None and rep.p50_spread_pct < 5.0 and not rep.unstable
    assert "unstable" not in capsys.readouterr().err


def test_spread_is_the_median_absolute_deviation_in_percent() -> None:
    assert spread_pct([10.0, 10.0, 11.0, 9.0, 10.0]) == pytest.approx(0.0)
    assert spread_pct([10.0, 12.0, 8.0, 10.0]) == pytest.approx(10.0)  # |deviations| 0,2,2,0: median 1
    assert spread_pct([1.0]) is None


def test_round_split_and_single_round_reports() -> None:
    rep = LatencyReport("t", np.array([1.0, 1.0, 2.0, 2.0, 2.0]), 0, round_sizes=[2, 3])
    assert rep.p50_per_round_ms == [1.0, 2.0] and rep.rounds == 2
    one = LatencyReport("board", np.array([1.0, 2.0, 3.0]), 0)  # a runner that times one block
    data = one.to_json()
    assert data["rounds"] == 1 and data["p50_spread_pct"] is None and data["unstable"] is False


def test_interleaved_rounds_alternate_variants() -> None:
    order: list[str] = []
    res = interleaved_rounds({"a": lambda: np.ones(3), "b": lambda: np.full(2, 2.0)}, rounds=3,
                             on_round=lambda r, name, s: order.append(f"{r}{name}"))
    assert order == ["0a", "0b", "1a", "1b", "2a", "2b"]
    assert res["a"][1] == [3, 3, 3] and res["b"][0].tolist() == [2.0] * 6
    with pytest.raises(ValueError, match="rounds"):
        interleaved_rounds({"a": lambda: np.ones(1)}, rounds=0)


def test_bad_rounds_config_names_the_option() -> None:
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        BenchConfig(rounds=0)
    assert BenchConfig().for_target(2).rounds == 2 and BenchConfig(rounds=7).for_target(2).rounds == 7
