"""export-onnx: every model source, the onnxruntime check, and refusals."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from neuroedge.bundle import load
from neuroedge.converters.export_onnx import CONVERTER, ExportParams
from neuroedge.modelref import ModelRefError
from neuroedge.registry import open_runner


def test_factory_export_matches_torch(mlp_bundle) -> None:
    m = mlp_bundle.manifest
    assert m.format == "onnx" and m.main == "model.onnx"
    assert m.inputs[0].shape == ("batch", 64) and m.outputs[0].shape == ("batch", 10)
    assert 0 <= m.metrics["onnx_max_abs_error"] <= m.metrics["onnx_tolerance"]
    assert m.chain[0].converter == "export-onnx" and m.chain[0].input_hash.startswith("sha256:")
    x = np.random.default_rng(1).random((1, 64), dtype=np.float32)
    ort_out = open_runner(mlp_bundle, "onnxruntime").run([x])[0]
    torch_out = open_runner(mlp_bundle, "torch").run([x])[0]
    np.testing.assert_allclose(ort_out, torch_out, atol=1e-5, rtol=1e-4)


def test_state_dict_weights_are_used(tmp_path: Path) -> None:
    from examples.digits.models import digits_mlp

    torch.manual_seed(3)
    model = digits_mlp().eval()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    b = CONVERTER.convert("examples.digits.models:digits_mlp",
                          ExportParams(input_shape=(1, 64), weights=str(tmp_path / "w.pt")), tmp_path / "b")
    x = np.random.default_rng(0).random((1, 64), dtype=np.float32)
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(open_runner(b, "onnxruntime").run([x])[0], want, atol=1e-5)


def test_torchscript_file(tmp_path: Path) -> None:
    from examples.digits.models import digits_cnn

    model = digits_cnn().eval()
    x = torch.rand(1, 1, 8, 8)
    torch.jit.trace(model, x).save(str(tmp_path / "m.ts"))
    b = CONVERTER.convert(str(tmp_path / "m.ts"), ExportParams(input_shape=(1, 1, 8, 8)), tmp_path / "b")
    with torch.inference_mode():
        want = model(x).numpy()
    np.testing.assert_allclose(open_runner(b, "onnxruntime").run([x.numpy()])[0], want, atol=1e-5)
    np.testing.assert_allclose(open_runner(b, "torch").run([x.numpy()])[0], want, atol=1e-6)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_of_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"w": _Evil()}, f)
    with pytest.raises(ModelRefError, match=r"evil\.pt: refused: not a weights-only file"):
        CONVERTER.convert("examples.digits.models:digits_mlp", ExportParams(input_shape=(1, 64), weights=str(path)),
                          tmp_path / "b")
    with pytest.raises(ModelRefError, match="refused"):
        CONVERTER.convert(str(path), ExportParams(input_shape=(1, 64)), tmp_path / "b2")
    assert not (tmp_path / "b").exists() and not (tmp_path / "b2").exists()


def test_pt2_needs_explicit_trust(tmp_path: Path) -> None:
    (tmp_path / "m.pt2").write_bytes(b"PK")
    with pytest.raises(ModelRefError, match="torch.export.load unpickles"):
        CONVERTER.convert(str(tmp_path / "m.pt2"), ExportParams(input_shape=(1, 64)), tmp_path / "b")


def test_wrong_input_shape_is_clear(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"does not accept inputs of shape \[1, 63\]"):
        CONVERTER.convert("examples.digits.models:digits_mlp", ExportParams(input_shape=(1, 63)), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_bad_reference(tmp_path: Path) -> None:
    with pytest.raises(ModelRefError, match="cannot import module 'no_such_pkg.models'"):
        CONVERTER.convert("no_such_pkg.models:make", ExportParams(input_shape=(1, 4)), tmp_path / "b")
    with pytest.raises(ModelRefError, match="has no attribute 'nope'"):
        CONVERTER.convert("examples.digits.models:nope", ExportParams(input_shape=(1, 4)), tmp_path / "b")

    with pytest.raises(ModelRefError, match=r"gone\.pt: no such file"):
        CONVERTER.convert(str(tmp_path / "gone.pt"), ExportParams(input_shape=(1, 4)), tmp_path / "b")


def test_a_bundle_given_as_the_model_is_named_as_one(mlp_bundle, tmp_path: Path) -> None:
    with pytest.raises(ModelRefError, match="a neuroedge bundle, not a PyTorch model"):
        CONVERTER.convert(str(mlp_bundle.path), ExportParams(input_shape=(1, 64)), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_dynamic_batch_runs(mlp_bundle) -> None:
    x = np.random.default_rng(0).random((5, 64), dtype=np.float32)
    assert open_runner(load(mlp_bundle.path), "onnxruntime").run([x])[0].shape == (5, 10)
