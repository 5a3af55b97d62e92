"""The torch target rebuilds a splitquant bundle's brevitas model; it agrees with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from examples.digits.models import digits_mlp
from neuroedge.converters.splitquant import CONVERTER
from neuroedge.converters.splitquant.params import SplitQuantParams
from neuroedge.registry import open_runner


@pytest.mark.parametrize("split", [True, False])
def test_torch_reference_matches_onnxruntime(tmp_path: Path, split: bool) -> None:
    torch.manual_seed(0)
    torch.save(digits_mlp().state_dict(), tmp_path / "w.pt")
    bundle = CONVERTER("examples.digits.models:digits_mlp",
                               SplitQuantParams(bits=2, split=split, input_shape=(1, 64), check_samples=2,
                                                weights=str(tmp_path / "w.pt")),
                               tmp_path / "b")
    assert bundle.manifest.torch_reference.kind == "factory"
    x = np.random.default_rng(0).random((1, 64), dtype=np.float32)
    want = open_runner(bundle, "onnxruntime", {"disable_quant_qdq": "true"}).run([x])[0]
    got = open_runner(bundle, "torch").run([x])[0]
    np.testing.assert_allclose(got, want, atol=1e-4 * max(1.0, float(np.abs(want).max())))


def test_unfixed_factory_rebuilds_the_model_that_was_quantised(tmp_path: Path) -> None:
    """A factory that initialises randomly: the bundle keeps the float weights it quantised, so the
    torch target rebuilds that model, not a fresh random one."""
    bundle = CONVERTER("examples.digits.models:digits_mlp",
                               SplitQuantParams(bits=4, input_shape=(1, 64), check_samples=2), tmp_path / "b")
    x = np.random.default_rng(1).random((1, 64), dtype=np.float32)
    want = open_runner(bundle, "onnxruntime", {"disable_quant_qdq": "true"}).run([x])[0]
    got = open_runner(bundle, "torch").run([x])[0]
    np.testing.assert_allclose(got, want, atol=1e-4 * max(1.0, float(np.abs(want).max())))
