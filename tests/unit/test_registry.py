"""Registries and typed parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest

from neuroedge import registry
from neuroedge.bundle import TensorSpec


def test_builtins_are_registered() -> None:
    assert "export-onnx" in registry.converter_names()
    assert {"onnxruntime", "torch"} <= set(registry.target_names())
    assert registry.target_status("onnxruntime") is True


def test_unknown_names() -> None:
    with pytest.raises(registry.RegistryError, match="unknown converter 'nope'; known: .*export-onnx"):
        registry.get_converter("nope")
    with pytest.raises(registry.RegistryError, match="unknown target 'nope'"):
        registry.get_target("nope")
    assert "unknown target" in registry.target_status("nope")


@dataclass(frozen=True)
class P:
    shape: tuple[int, ...] = ()
    bits: int = 8
    scale: float = 1.0
    split: bool = False
    mode: Literal["a", "b"] = "a"
    name: str | None = None


def test_parse_params_coerces_strings() -> None:
    p = registry.parse_params(P, {"shape": "1,16", "bits": "2", "scale": "0.5", "split": "true", "mode": "b",
                                  "name": "none"})
    assert p == P((1, 16), 2, 0.5, True, "b", None)
    assert registry.parse_params(P, {"shape": [1, 2], "split": False}) == P((1, 2), split=False)


@pytest.mark.parametrize(("raw", "msg"), [
    ({"bitz": "2"}, "unknown parameter 'bitz'; known: bits"),
    ({"bits": "two"}, r"params: parameter 'bits': expected int"),
    ({"split": "maybe"}, "expected true or false"),
    ({"mode": "c"}, r"is not one of \['a', 'b'\]"),
])
def test_parse_params_errors(raw, msg) -> None:
    with pytest.raises(registry.RegistryError, match=msg):
        registry.parse_params(P, raw)


def test_check_inputs_shape_mismatch() -> None:
    specs = (TensorSpec("input", ("batch", 64)),)
    with pytest.raises(ValueError, match=r"input 'input': shape \[1, 65\] does not match the bundle's \['batch', 64\]"):
        registry.check_inputs(specs, [np.zeros((1, 65), np.float32)])
    with pytest.raises(ValueError, match="expected 1 input"):
        registry.check_inputs(specs, [])
    out = registry.check_inputs(specs, [np.zeros((3, 64), np.float64)])
    assert out[0].dtype == np.float32 and out[0].shape == (3, 64)
