"""A pipeline (and so a sweep) whose model is a user's ONNX file: imported as the first bundle; steps
that need the torch model, and the torch target, are refused before any work, with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuroedge.pipeline import ConfigError, compile_pipeline, validate


def _onnx(path: Path) -> Path:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()
    torch.onnx.export(model, torch.zeros(1, 8), str(path), input_names=["x"], output_names=["y"], dynamo=False)
    return path


def _config(ref: Path, target: str = "onnxruntime", steps: list | None = None) -> dict:
    cfg = {"_path": "theirs.toml", "name": "theirs", "model": {"ref": str(ref)}, "target": {"name": target},
           "bench": {"iterations": 50, "warmup": 5, "min_duration_s": 0.01}}
    if steps is not None:
        cfg["steps"] = steps
    return cfg


def test_an_onnx_model_compiles_and_benchmarks_without_steps(tmp_path: Path) -> None:
    ref = _onnx(tmp_path / "theirs.onnx")
    cfg = _config(ref)
    validate(cfg)
    result = compile_pipeline(cfg, tmp_path / "out", latency=True, accuracy=False)
    assert result["format"] == "onnx" and result["p50_ms"] > 0
    from neuroedge import registry
    from neuroedge.bundle import load

    runner = registry.open_runner(load(result["bundle"]), "onnxruntime", {})
    x = np.random.default_rng(0).random((1, 8), dtype=np.float32)
    import onnxruntime as ort

    want = ort.InferenceSession(str(ref)).run(None, {"x": x})[0]
    np.testing.assert_allclose(runner.run([x])[0], want, rtol=1e-6)


def test_steps_that_need_the_torch_model_and_the_torch_target_are_refused(tmp_path: Path) -> None:
    ref = _onnx(tmp_path / "theirs.onnx")
    with pytest.raises(ConfigError, match="steps\\[0\\] 'splitquant' takes a torch model, but model.ref is an ONNX"):
        validate(_config(ref, steps=[{"converter": "splitquant", "params": {"bits": 4}}]))
    with pytest.raises(ConfigError, match="the torch target runs the torch model a converter recorded"):
        validate(_config(ref, target="torch"))
    with pytest.raises(ConfigError, match="missing field 'steps'"):
        validate({**_config(tmp_path / "model.pt"), "steps": []})
