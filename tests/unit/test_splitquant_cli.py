"""``neuroedge convert splitquant`` and a ``compile`` config with a splitquant step, through the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]

cli = pytest.importorskip("neuroedge.cli", reason="the neuroedge CLI is not installed")


@pytest.fixture()
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # model references like examples.digits.models:... resolve from the repo root


def test_convert_command_writes_a_bundle(tmp_path, in_root, capsys):
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).state_dict(), tmp_path / "w.pt")
    rc = cli.main(["convert", "splitquant", "examples.digits.models:digits_mlp", "-o", str(tmp_path / "b"),
                   "--param", "bits=4", "--param", "input_shape=1,64", "--param", f"weights={tmp_path / 'w.pt'}"])
    assert rc == 0
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["format"] == "qcdq-onnx" and "model.qonnx.onnx" in manifest["files"]
    assert "qcdq_ort_max_abs_error" in capsys.readouterr().out


def test_convert_command_refuses_bad_bits_with_a_one_line_message(tmp_path, in_root, capsys):
    rc = cli.main(["convert", "splitquant", "examples.digits.models:digits_mlp", "-o", str(tmp_path / "b"),
                   "--param", "bits=9", "--param", "input_shape=1,64"])
    assert rc != 0
    err = capsys.readouterr().err
    assert "bits must be an integer in 2..8" in err and "Traceback" not in err
    assert not (tmp_path / "b").exists()


def test_compile_config_with_a_splitquant_step(tmp_path, in_root):
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).state_dict(), tmp_path / "w.pt")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", x=rng.random((20, 64), dtype=np.float32), y=rng.integers(0, 10, 20))
    config = tmp_path / "p.toml"
    config.write_text(f"""
name = "sq"
[model]
ref = "examples.digits.models:digits_mlp"
weights = "{tmp_path / 'w.pt'}"
input_shape = [1, 64]
[data]
path = "{tmp_path / 'eval.npz'}"
[[steps]]
converter = "splitquant"
params = {{ bits = 2, qonnx = false }}
[target]
name = "onnxruntime"
[bench]
iterations = 20
warmup = 2
""")
    rc = cli.main(["compile", str(config), "-o", str(tmp_path / "out")])
    assert rc == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["format"] == "qcdq-onnx"
    assert report["model_bytes"] == report["metrics"]["packed_bytes"]
    assert os.path.isdir(report["bundle"])
