"""onnxruntime and torch targets, and the benchmark harness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neuroedge.bench import BenchConfig, harness_overhead_us, plot_histogram, time_callable
from neuroedge.registry import RegistryError, open_runner

KEYS = {"latency_ms", "throughput_per_s", "iterations", "warmup_iterations", "target", "host"}
STATS = {"min", "mean", "p50", "p90", "p95", "p99", "max"}


def test_onnxruntime_benchmark_report(mlp_bundle, tmp_path: Path) -> None:
    runner = open_runner(mlp_bundle, "onnxruntime")
    x = [np.zeros((1, 64), np.float32)]
    rep = runner.benchmark(x, BenchConfig(iterations=300, warmup=20, min_duration_s=0.05, progress=False))
    data = rep.to_json()
    assert KEYS <= set(data) and set(data["latency_ms"]) == STATS
    s = data["latency_ms"]
    assert 0 < s["min"] <= s["p50"] <= s["p90"] <= s["p95"] <= s["p99"] <= s["max"]
    assert data["iterations"] >= 300 and data["warmup_iterations"] == 20
    assert data["settings"]["io_binding"] is True and data["settings"]["intra_op_num_threads"] == 1
    assert data["host"]["cores"] >= 1 and data["host"]["cpu"]
    # The bound output buffer holds the real result of the benchmarked input.
    np.testing.assert_allclose(runner._buffers[0], runner.run(x)[0], atol=1e-6)
    plot_histogram(rep, tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 1000


def test_min_duration_is_honoured() -> None:
    rep = time_callable(lambda: None, BenchConfig(iterations=10, warmup=0, min_duration_s=0.2, progress=False))
    assert rep.iterations > 10 and rep.samples_ms.sum() > 0


def test_harness_overhead_is_small() -> None:
    # A sanity bound (the benchmark measures the real figure): a no-op costs well under 5 µs.
    assert harness_overhead_us(20_000) < 5.0


def test_shape_mismatch_at_run(mlp_bundle) -> None:
    for target in ("onnxruntime", "torch"):
        with pytest.raises(ValueError, match=r"shape \[1, 32\] does not match"):
            open_runner(mlp_bundle, target).run([np.zeros((1, 32), np.float32)])


def test_unknown_option(mlp_bundle) -> None:
    with pytest.raises(ValueError, match="unknown option"):
        open_runner(mlp_bundle, "onnxruntime", {"thread": 2})


def test_format_mismatch(mlp_bundle, tmp_path: Path) -> None:
    data = json.loads((mlp_bundle.path / "manifest.json").read_text())
    assert data["format"] == "onnx"
    from neuroedge.bundle import Bundle, Manifest

    fake = Bundle(mlp_bundle.path, Manifest(**{**mlp_bundle.manifest.__dict__, "format": "snn-loihi"}))
    with pytest.raises(RegistryError, match="runs onnx, qcdq-onnx bundles"):
        open_runner(fake, "onnxruntime")


def test_disable_quant_qdq_option(mlp_bundle) -> None:
    runner = open_runner(mlp_bundle, "onnxruntime", {"disable_quant_qdq": "true", "threads": 2})
    assert runner.settings()["disable_quant_qdq"] is True and runner.settings()["intra_op_num_threads"] == 2
    x = np.ones((1, 64), np.float32)
    np.testing.assert_allclose(runner.run([x])[0], open_runner(mlp_bundle, "onnxruntime").run([x])[0], atol=1e-6)
