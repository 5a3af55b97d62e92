"""compile: a pipeline from TOML, and every bad config named by file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuroedge.bundle import OutputExistsError, load
from neuroedge.pipeline import ConfigError, compile_pipeline, load_config

GOOD = """
name = "mlp"
[model]
ref = "examples.digits.models:digits_mlp"
input_shape = [1, 64]
[data]
ref = "examples.digits.data:test_set"
limit = 50
[[steps]]
converter = "export-onnx"
params = { opset = 17 }
[target]
name = "onnxruntime"
[bench]
iterations = 100
warmup = 10
min_duration_s = 0.0
"""


def _cfg(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.toml"
    p.write_text(text)
    return p


def test_compile(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, GOOD))
    res = compile_pipeline(cfg, tmp_path / "out")
    assert 0 <= res["accuracy"] <= 100 and res["latency"]["iterations"] >= 100
    assert load(res["bundle"]).format == "onnx"
    assert json.loads((tmp_path / "out" / "report.json").read_text())["summary"]["target"] == "onnxruntime"
    with pytest.raises(OutputExistsError):
        compile_pipeline(cfg, tmp_path / "out")


def test_overrides(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, GOOD), overrides={"target": "torch", "export-onnx.opset": "18",
                                                        "bench.iterations": "50"})
    assert cfg["target"]["name"] == "torch" and cfg["steps"][0]["params"]["opset"] == 18
    assert cfg["bench"]["iterations"] == 50


@pytest.mark.parametrize(("old", "new", "msg"), [
    ('converter = "export-onnx"', 'converter = "quantise"', r"field 'steps\[0\]\.converter': unknown converter 'quantise'"),
    ('name = "onnxruntime"', 'name = "tpu"', "field 'target.name': unknown target 'tpu'"),
    ("opset = 17", "opsett = 17", r"steps\[0\]\.params: unknown parameter 'opsett'"),
    ("opset = 17", "opset = 3", r"steps\[0\]\.params: opset 3"),
    ('[bench]', '[benchmark]', r"unknown field\(s\) \['benchmark'\]"),
    ("limit = 50", "limt = 50", r"unknown field\(s\) \['limt'\] in \[data\]"),
    ('ref = "examples.digits.models:digits_mlp"', 'reff = "x"', r"unknown field\(s\) \['reff'\] in \[model\]"),
    ('ref = "examples.digits.models:digits_mlp"', '', "missing field 'model.ref'"),
])
def test_bad_config(tmp_path: Path, old: str, new: str, msg: str) -> None:
    path = _cfg(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises((ConfigError, Exception), match=msg) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_cfg(tmp_path, "name = "))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")


def test_failed_compile_leaves_no_output(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, GOOD.replace("[1, 64]", "[1, 65]")))
    with pytest.raises(Exception, match="does not accept inputs of shape"):
        compile_pipeline(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()
