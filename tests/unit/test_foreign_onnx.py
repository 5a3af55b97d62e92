"""ONNX files and data the way other projects make them, each through the path it failed on.

Each test fails on the code before its fix: compile's accuracy on inputs with a dynamic length (a
sequence, token ids) and their benchmark at length 1; NCHW rows silently reshaped into an NHWC input;
ONNX files with external weights (what torch.onnx.export writes by default) refused; int32 token ids for
an int64 input refused; a model with integer inputs that export-onnx could not export; one-hot labels;
a (features, logits) model scored on its features. Torch models: test_foreign_models.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the way their code imports it
from torch import nn

from neuroedge import registry
from neuroedge.cli import main
from neuroedge.manifest import TensorSpec


def _export(model: nn.Module, x: torch.Tensor, path: Path, name: str, axes: dict[int, str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (x,), str(path), input_names=[name], output_names=["y"], opset_version=17,
                          dynamic_axes={name: axes, "y": {0: "batch"}}, dynamo=False)


class Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb, self.fc = nn.Embedding(20, 6), nn.Linear(6, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.emb(ids).mean(1))


class Series(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv1d(2, 4, 3, padding=1), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv(x)).mean(-1))


def _ort(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("kind", ["tokens", "series"])
def test_compile_accuracy_on_inputs_with_a_dynamic_length(tmp_path: Path, kind: str) -> None:
    """Each row keeps its length (was: reshaped to length 1, 'cannot reshape array'); accuracy is ORT's."""
    from neuroedge.pipeline import compile_pipeline, validate

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if kind == "tokens":
        model, x, name = Tokens(), rng.integers(0, 20, (40, 12)), "input_ids"
        _export(model, torch.zeros(1, 12, dtype=torch.long), tmp_path / "m.onnx", name, {0: "batch", 1: "seq"})
    else:
        model, x, name = Series(), rng.standard_normal((40, 2, 50)).astype(np.float32), "signal"
        _export(model, torch.zeros(1, 2, 50), tmp_path / "m.onnx", name, {0: "batch", 2: "time"})
    want = _ort(tmp_path / "m.onnx", x)
    y = np.where(rng.random(40) < 0.7, want.argmax(1), rng.integers(0, 3, 40))  # labels it gets mostly right
    np.savez(tmp_path / "test.npz", x=x, y=y)
    cfg = {"_path": "theirs.toml", "name": "theirs", "model": {"ref": str(tmp_path / "m.onnx")},
           "data": {"path": str(tmp_path / "test.npz")}, "target": {"name": "onnxruntime"},
           "bench": {"iterations": 5, "warmup": 1, "min_duration_s": 0.0}}
    validate(cfg)
    result = compile_pipeline(cfg, tmp_path / "out")
    assert result["accuracy"] == pytest.approx(100.0 * float((want.argmax(1) == y).mean()), abs=5e-4)


def test_data_rows_are_never_silently_reordered_into_another_layout() -> None:
    from neuroedge.pipeline import eval_sample

    nhwc = TensorSpec("x", ("n", 4, 4, 3))
    with pytest.raises(ValueError, match=r"rows have shape \[3, 4, 4\].*\['n', 4, 4, 3\]"):
        eval_sample(nhwc, np.zeros((3, 4, 4), np.float32))  # NCHW rows: a reshape would scramble them
    flat = np.arange(48, dtype=np.float32)
    np.testing.assert_array_equal(eval_sample(nhwc, flat), flat.reshape(1, 4, 4, 3))  # the flat-row convention
    assert eval_sample(TensorSpec("x", ("n", 1, 8, 8)), np.zeros((8, 8))).shape == (1, 1, 8, 8)  # size-1 axes only


def _external_data_onnx(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A hand-built graph (Conv with explicit pads, BatchNormalization, Reshape -1, Gemm transB=1),
    its weights in a .data file beside it, as torch.onnx.export's default exporter writes them."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    arrays = {"W1": rng.standard_normal((2, 1, 3, 3)), "B1": rng.standard_normal(2), "g": rng.uniform(0.5, 1.5, 2),
              "be": rng.standard_normal(2), "mu": rng.standard_normal(2), "var": rng.uniform(0.5, 2, 2),
              "W2": rng.standard_normal((3, 2 * 4 * 4)), "B2": rng.standard_normal(3)}
    inits = [numpy_helper.from_array(a.astype(np.float32), k) for k, a in arrays.items()]
    inits.append(numpy_helper.from_array(np.array([0, -1], np.int64), "shape"))
    nodes = [helper.make_node("Conv", ["in.x", "W1", "B1"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("BatchNormalization", ["c", "g", "be", "mu", "var"], ["bn"], epsilon=1e-3),
             helper.make_node("Relu", ["bn"], ["r"]), helper.make_node("Reshape", ["r", "shape"], ["flat"]),
             helper.make_node("Gemm", ["flat", "W2", "B2"], ["out:0"], transB=1)]
    graph = helper.make_graph(nodes, "theirs", [helper.make_tensor_value_info("in.x", TensorProto.FLOAT, ["n", 1, 4, 4])],
                              [helper.make_tensor_value_info("out:0", TensorProto.FLOAT, ["n", 3])], inits)
    path = folder / "theirs.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path),
              save_as_external_data=True, location="theirs.onnx.data", size_threshold=0)
    return path, arrays


def _by_hand(a: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """What the graph computes, from its arrays, in float64 torch."""
    t = {k: torch.from_numpy(v).double() for k, v in a.items()}
    c = F.conv2d(torch.from_numpy(x).double(), t["W1"], t["B1"], padding=1)
    bn = (c - t["mu"][:, None, None]) / torch.sqrt(t["var"][:, None, None] + 1e-3) * t["g"][:, None, None] \
        + t["be"][:, None, None]
    return (F.relu(bn).reshape(len(x), -1) @ t["W2"].T + t["B2"]).numpy()


def test_an_onnx_file_with_external_weights_is_imported_whole(tmp_path: Path, capsys) -> None:
    from neuroedge.bundle import load

    (tmp_path / "src").mkdir()
    src, arrays = _external_data_onnx(tmp_path / "src")  # onnxruntime cannot open it: Reshape's shape is external
    x = np.random.default_rng(1).random((5, 1, 4, 4), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["import-onnx", str(src), "-o", str(tmp_path / "b")]) == 0
    bundle = load(tmp_path / "b")
    assert list(bundle.manifest.files) == ["model.onnx"]  # one self-contained file
    (src.parent / "theirs.onnx.data").rename(tmp_path / "elsewhere.data")  # the bundle no longer needs it
    got = registry.open_runner(bundle, "onnxruntime").run([x])[0]
    (tmp_path / "elsewhere.data").rename(src.parent / "theirs.onnx.data")
    np.testing.assert_allclose(got, _by_hand(arrays, x), rtol=1e-5, atol=1e-5 * np.abs(got).max())  # float32 sums
    assert main(["run", str(src), "-t", "onnxruntime", "--data", str(tmp_path / "x.npy")]) == 0
    assert "out:0: shape [5, 3] float32" in capsys.readouterr().out
    np.savez(tmp_path / "test.npz", x=x, y=np.zeros(5, np.int64))  # the calibration convention, input named 'in.x'
    assert main(["run", str(src), "-t", "onnxruntime", "--data", str(tmp_path / "test.npz")]) == 0  # was: refused
    assert "out:0: shape [5, 3] float32" in capsys.readouterr().out
    (src.parent / "theirs.onnx.data").unlink()
    assert main(["inspect", str(src)]) == 1
    err = capsys.readouterr().err
    assert "external data files that cannot be read" in err and "Traceback" not in err


def test_int32_token_ids_feed_an_int64_input_and_floats_are_refused(tmp_path: Path) -> None:
    from neuroedge.onnx_import import import_onnx

    torch.manual_seed(0)
    _export(Tokens(), torch.zeros(1, 12, dtype=torch.long), tmp_path / "t.onnx", "input_ids", {0: "batch", 1: "seq"})
    runner = registry.open_runner(import_onnx(tmp_path / "t.onnx", tmp_path / "b"), "onnxruntime")
    ids = np.random.default_rng(0).integers(0, 20, (3, 7))
    np.testing.assert_array_equal(runner.run([ids.astype(np.int32)])[0], _ort(tmp_path / "t.onnx", ids))
    with pytest.raises(ValueError, match="dtype float32 but the bundle wants int64"):
        runner.run([ids.astype(np.float32)])  # a float cast to an index would be a silent guess


def tokens() -> nn.Module:
    torch.manual_seed(0)
    return Tokens()


def test_export_onnx_takes_token_ids_and_runs_them_as_torch_does(tmp_path: Path) -> None:
    """Was: random float check inputs only, so an nn.Embedding model could not be exported at all."""
    b = registry.get_converter("export-onnx").convert("tests.unit.test_foreign_onnx:tokens",
                                                      {"inputs": "input_ids:1,12:int64"}, tmp_path / "t")
    assert b.manifest.inputs[0].dtype == "int64" and b.manifest.inputs[0].shape == ("batch", 12)
    ids = np.random.default_rng(0).integers(0, 20, (4, 12))
    with torch.inference_mode():
        want = tokens()(torch.from_numpy(ids)).numpy()
    for target in ("onnxruntime", "torch"):
        np.testing.assert_allclose(registry.open_runner(b, target).run([ids])[0], want, atol=1e-5)
    with pytest.raises(ValueError, match="dtype 'int8'; supported: float32, int64, int32"):
        registry.get_converter("export-onnx").convert("tests.unit.test_foreign_onnx:tokens",
                                                      {"inputs": "input_ids:1,12:int8"}, tmp_path / "t8")


def test_one_hot_labels_are_refused_before_any_work_and_a_label_column_is_taken(tmp_path: Path) -> None:
    from neuroedge.pipeline import ConfigError, load_eval_data

    x = np.zeros((6, 4), np.float32)
    np.savez(tmp_path / "onehot.npz", x=x, y=np.eye(3)[[0, 1, 2, 0, 1, 2]])
    np.savez(tmp_path / "column.npz", x=x, y=np.arange(6).reshape(6, 1))
    with pytest.raises(ConfigError, match=r"labels y have shape \[6, 3\]; expected \[6\] class indices"):
        load_eval_data({"data": {"path": str(tmp_path / "onehot.npz")}})  # was: numpy's scalar error, mid-run
    assert load_eval_data({"data": {"path": str(tmp_path / "column.npz")}})[1].shape == (6,)


def test_run_says_when_a_random_input_sets_a_dynamic_length_to_one(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    _export(Series(), torch.zeros(1, 2, 50), tmp_path / "s.onnx", "signal", {0: "batch", 2: "time"})
    assert main(["run", str(tmp_path / "s.onnx"), "-t", "onnxruntime"]) == 0
    assert "input 'signal' has dynamic axes ['time']: the random input sets them to 1" in capsys.readouterr().err


class FeaturesAndLogits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.fc1(x))
        return h, self.fc2(h)


def test_accuracy_names_the_output_it_scores_and_takes_another(tmp_path: Path, capsys) -> None:
    """A model returning (features, logits) was scored on its features, silently."""
    from neuroedge.pipeline import ConfigError, compile_pipeline

    torch.manual_seed(0)
    model = FeaturesAndLogits().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 4),), str(tmp_path / "m.onnx"), input_names=["x"],
                          output_names=["features", "logits"], dynamic_axes={"x": {0: "b"}}, dynamo=False)
    x = np.random.default_rng(0).random((30, 4), dtype=np.float32)
    with torch.inference_mode():
        y = model(torch.from_numpy(x))[1].argmax(1).numpy()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    cfg = {"_path": "theirs.toml", "model": {"ref": str(tmp_path / "m.onnx")}, "target": {"name": "onnxruntime"},
           "data": {"path": str(tmp_path / "d.npz"), "output": "logits"}}
    assert compile_pipeline(cfg, tmp_path / "a", latency=False)["accuracy"] == 100.0
    del cfg["data"]["output"]
    compile_pipeline(cfg, tmp_path / "b", latency=False)
    assert "accuracy reads the first output 'features' of ['features', 'logits']" in capsys.readouterr().err
    cfg["data"]["output"] = "logit"
    with pytest.raises(ConfigError, match=r"output 'logit': the bundle's outputs are \['features', 'logits'\]"):
        compile_pipeline(cfg, tmp_path / "c", latency=False)


def test_a_dynamic_length_is_benchmarked_at_the_data_length(tmp_path: Path) -> None:
    """Was 1 (the random input), also in a sweep's latency-only pass, which loads no data for accuracy."""
    from neuroedge.bundle import load
    from neuroedge.pipeline import build, measure

    torch.manual_seed(0)
    _export(nn.Conv1d(2, 3, 3, padding=1), torch.zeros(1, 2, 50), tmp_path / "c.onnx", "signal", {0: "batch", 2: "time"})
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2, 50), np.float32), y=np.zeros(4, np.int64))
    cfg = {"_path": "theirs.toml", "model": {"ref": str(tmp_path / "c.onnx")}, "target": {"name": "onnxruntime"},
           "data": {"path": str(tmp_path / "d.npz")}, "bench": {"iterations": 5, "warmup": 1, "min_duration_s": 0.0}}
    bundle, _ = build(cfg, tmp_path / "out")
    keep: dict = {}
    measure(cfg, load(bundle.path), accuracy=False, latency=True, keep=keep)
    assert keep["runner"]._buffers[0].shape == (1, 3, 50)  # the timed call's output: length 50, not 1


