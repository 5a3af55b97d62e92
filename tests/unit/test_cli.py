"""The CLI end to end, in a real subprocess: exit codes, messages, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuroedge.cli", *args], capture_output=True, text=True, cwd=REPO)


def test_convert_run_bench_inspect(tmp_path: Path) -> None:
    out = tmp_path / "b"
    r = cli("convert", "export-onnx", "examples.digits.models:digits_mlp", "-o", str(out), "--param", "input_shape=1,64")
    assert r.returncode == 0, r.stderr
    assert "onnx_max_abs_error" in r.stdout
    r = cli("run", str(out), "--target", "onnxruntime")
    assert r.returncode == 0 and r.stdout.startswith("output: shape [1, 10] float32"), r.stdout + r.stderr
    np.save(tmp_path / "x.npy", np.ones((1, 64), np.float32))
    r = cli("run", str(out), "-t", "torch", "--data", str(tmp_path / "x.npy"), "--save", str(tmp_path / "y.npz"))
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "y.npz")["output"].shape == (1, 10)
    r = cli("bench", str(out), "-t", "onnxruntime", "-n", "200", "--warmup", "10", "--min-duration", "0",
            "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png"))
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert {"latency_ms", "throughput_per_s", "iterations", "warmup_iterations", "target", "host"} <= set(data)
    assert (tmp_path / "r.png").is_file()
    r = cli("inspect", str(out))
    assert r.returncode == 0 and "export-onnx" in r.stdout and "model.onnx" in r.stdout


def test_existing_output_needs_force(tmp_path: Path) -> None:
    args = ("convert", "export-onnx", "examples.digits.models:digits_mlp", "-o", str(tmp_path / "b"),
            "--param", "input_shape=1,64")
    assert cli(*args).returncode == 0
    r = cli(*args)
    assert r.returncode == 1 and "already exists; pass --force" in r.stderr
    assert cli(*args, "--force").returncode == 0


@pytest.mark.parametrize(("args", "code", "msg"), [
    (("convert", "nope", "x", "-o", "y"), 1, "unknown converter 'nope'"),
    (("convert", "export-onnx", "examples.digits.models:digits_mlp", "-o", "y", "--param", "bits=2"), 1,
     "unknown parameter 'bits'"),
    (("convert", "export-onnx", "examples.digits.models:digits_mlp", "-o", "y", "--param", "input_shape"), 2,
     "expected KEY=VALUE"),
    (("run", "/nonexistent", "-t", "onnxruntime"), 1, "not a bundle folder"),
    (("bench",), 2, "required"),
    (("frobnicate",), 2, "invalid choice"),
])
def test_errors_are_one_line(args, code, msg) -> None:
    r = cli(*args)
    assert r.returncode == code, r.stderr
    assert msg in r.stderr
    assert "Traceback" not in r.stderr


def test_run_shape_mismatch(mlp_bundle, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((1, 63), np.float32))
    r = cli("run", str(mlp_bundle.path), "-t", "onnxruntime", "--data", str(tmp_path / "x.npy"))
    assert r.returncode == 1 and "shape [1, 63] does not match" in r.stderr


def test_unknown_target(mlp_bundle) -> None:
    r = cli("run", str(mlp_bundle.path), "-t", "tpu")
    assert r.returncode == 1 and "unknown target 'tpu'" in r.stderr
