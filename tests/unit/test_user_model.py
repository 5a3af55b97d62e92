"""A user's own model, start to finish: each item of the contract issue, with models this project never made.

Each test fails on the code before the typed contract: compile's accuracy on a quantised target, error
detail in the CLI, unknown options, conventions, calibration shapes, ONNX files with several inputs and
recurrent state, the units bench prints.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neuroedge import registry
from neuroedge.cli import main


class Wine(nn.Module):
    """An MLP on sklearn's wine set (13 features, 3 classes): not one of the project's examples."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def wine() -> nn.Module:
    return Wine()


@pytest.fixture(scope="module")
def wine_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A trained wine MLP (state_dict), standardised train/test .npz files in the calibration convention."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    d = tmp_path_factory.mktemp("wine")
    data = load_wine()
    lo, hi = data.data.min(0), data.data.max(0)
    x = ((data.data - lo) / (hi - lo)).astype(np.float32)  # [0, 1] per feature: rate coding needs x >= 0
    x_tr, x_te, y_tr, y_te = train_test_split(x, data.target, test_size=0.4, random_state=0, stratify=data.target)
    torch.manual_seed(0)
    model = Wine()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(x_tr)), torch.from_numpy(y_tr)).backward()
        opt.step()
    torch.save(model.state_dict(), d / "wine.pt")
    np.savez(d / "train.npz", x=x_tr, y=y_tr)
    np.savez(d / "test.npz", x=x_te, y=y_te)
    return {"dir": d, "weights": d / "wine.pt", "train": d / "train.npz", "test": d / "test.npz"}


def _pipeline(wine_files: dict[str, Path], step: dict, target: str, options: dict, limit: int) -> dict:
    """The pipeline as the TOML loader would return it, checked by the same validation."""
    from neuroedge.pipeline import validate

    config = {"_path": f"wine-{target}", "name": f"wine-{target}",
              "model": {"ref": "tests.unit.test_user_model:wine", "weights": str(wine_files["weights"]),
                        "input_shape": [1, 13]},
              "data": {"path": str(wine_files["test"]), "limit": limit}, "steps": [step],
              "target": {"name": target, "options": options},
              "bench": {"iterations": 5, "warmup": 2, "min_duration_s": 0.0}}
    validate(config)
    return config


EXPORT = {"converter": "export-onnx"}
SNN = {"converter": "to-snn", "params": {"calibration": "TRAIN", "timesteps": 32}}
PIPELINES = {  # target: (step, options, how many test samples: 0 for all)
    "onnxruntime": (EXPORT, {}, 0),
    "torch": (EXPORT, {}, 0),
    "jetson": (EXPORT, {}, 0),  # a loopback sshd stands in for the board
    "mcu": ({"converter": "mcu", "params": {"calibration": "TRAIN"}}, {"device": "host://"}, 0),
    "snn-fast": (SNN, {}, 0),
    "loihi-sim": (SNN, {}, 12),  # Lava takes ~10 ms a step here
}


@pytest.mark.parametrize("target", sorted(PIPELINES))
def test_compile_accuracy_equals_an_independent_evaluation(wine_files, tmp_path: Path, target: str) -> None:
    """Item 1: compile's accuracy is what open_runner gives on the same data, on every target here
    (the mcu target's input is int8: float data must be quantised with its scale, never cast)."""
    status = registry.target_status(target)
    if status is not True:
        pytest.skip(f"{target} is not available here: {status}")
    step, options, limit = PIPELINES[target]
    if "params" in step:
        step = {**step, "params": {**step["params"], "calibration": str(wine_files["train"])}}
    with ExitStack() as stack:
        if target == "jetson":
            from neuroedge.targets.jetson.loopback import loopback_sshd, missing

            if missing():
                pytest.skip(missing())
            options = {**stack.enter_context(loopback_sshd()), "remote_python": sys.executable,
                       "backend": "onnxruntime"}
        _check_target(wine_files, tmp_path, target, step, options, limit)


def _check_target(wine_files: dict[str, Path], tmp_path: Path, target: str, step: dict, options: dict,
                  limit: int) -> None:
    from neuroedge.pipeline import compile_pipeline

    config = _pipeline(wine_files, step, target, options, limit)
    result = compile_pipeline(config, tmp_path / "out")
    bundle = registry_load(result["bundle"])
    with np.load(wine_files["test"]) as z:
        x, y = z["x"][: limit or None], z["y"][: limit or None]
    runner = registry.open_runner(bundle, target, config["target"].get("options", {}))
    try:
        pred = np.array([np.argmax(runner.run([x[i : i + 1]])[0]) for i in range(len(x))])
    finally:
        runner.close()
    independent = 100.0 * float((pred == y).mean())
    assert result["accuracy"] == pytest.approx(independent, abs=5e-4)  # compile rounds to 3 decimals
    assert independent > 85.0  # the float model scores ~97%: a cast int8 input would not


def registry_load(path: str) -> object:
    from neuroedge.bundle import load

    return load(path)


def test_cli_prints_the_whole_message_and_takes_debug_after_the_subcommand(tmp_path: Path, capsys) -> None:
    """Item 2: to-snn's list of unsupported layers, and torch's list of mismatched keys, reach the user."""
    torch.save(nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 2)).state_dict(), tmp_path / "w.pt")
    np.save(tmp_path / "cal.npy", np.zeros((4, 4), np.float32))
    code = main(["convert", "to-snn", "tests.unit.test_user_model:sigmoid_mlp", "-o", str(tmp_path / "o"),
                 "--param", f"calibration={tmp_path / 'cal.npy'}"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "Sigmoid" in err and len(err.strip().splitlines()) >= 2, err
    code = main(["convert", "export-onnx", "tests.unit.test_user_model:wine", "-o", str(tmp_path / "o2"),
                 "--param", "input_shape=1,13", "--param", f"weights={tmp_path / 'w.pt'}"])
    err = capsys.readouterr().err
    assert code == 1 and "Missing key(s)" in err and "Unexpected key(s)" in err, err
    with pytest.raises(Exception, match="does not fit"):  # --debug after the subcommand: the traceback
        main(["convert", "export-onnx", "tests.unit.test_user_model:wine", "-o", str(tmp_path / "o3"),
              "--param", "input_shape=1,13", "--param", f"weights={tmp_path / 'w.pt'}", "--debug"])


def sigmoid_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 2))


def test_unknown_and_mistyped_options_are_named(mlp_bundle, capsys) -> None:
    """Item 3: a typo is an error naming the option and the known ones, on every path."""
    assert main(["run", str(mlp_bundle.path), "-t", "onnxruntime", "--option", "thread=2"]) == 1
    assert "unknown option 'thread'; known: disable_quant_qdq, threads" in capsys.readouterr().err
    assert main(["run", str(mlp_bundle.path), "-t", "onnxruntime", "--option", "threads=abc"]) == 1
    assert "option 'threads': expected int, got 'abc'" in capsys.readouterr().err
    with pytest.raises(registry.RegistryError, match="unknown option 'timestep'; known: timeout_s, timesteps"):
        registry.target_options("snn-fast", {"timestep": 4})
    for kind, name, key in (("targets", "snn-fast", "timesteps"), ("converters", "splitquant", "bits")):
        assert main([kind, name]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith(key))
        assert "default" in line and ":" in line  # type, default and help


def test_one_calibration_convention_and_no_demo_default(wine_files, tmp_path: Path) -> None:
    """Item 4: input_shape has the batch dimension for every converter; calibration is one convention."""
    conv = registry.get_converter("mcu")
    b = conv.convert("tests.unit.test_user_model:wine", {"weights": str(wine_files["weights"]), "input_shape": "1,13",
                                                         "calibration": str(wine_files["train"])}, tmp_path / "m")
    assert b.manifest.inputs[0].shape[1:] == (13,) and b.manifest.metrics["int8_accuracy"] > 0.85
    with pytest.raises(ValueError, match="needs calibration"):
        conv.convert("tests.unit.test_user_model:wine", {"weights": str(wine_files["weights"])}, tmp_path / "m2")
    np.save(tmp_path / "bad.npy", np.zeros((5, 12), np.float32))
    for name in ("mcu", "to-snn", "splitquant"):
        with pytest.raises(ValueError, match=r"shape \[5, 12\]"):
            registry.get_converter(name).convert("tests.unit.test_user_model:wine",
                                                 {"weights": str(wine_files["weights"]), "input_shape": "1,13",
                                                  "calibration": str(tmp_path / "bad.npy")}, tmp_path / name)
        assert not (tmp_path / name).exists()


def _two_input_onnx(path: Path) -> None:
    """y = x @ W + h;  h_out = 0.5 h + (row sum of x): two inputs, two outputs, a dynamic batch, state h <- h_out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, "W")
    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "h"], ["y"]),
             helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1), helper.make_node("Mul", ["h", "half"], ["hh"]),
             helper.make_node("Add", ["hh", "s"], ["h_out"])]
    graph = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4]),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["n", 4])], [w, half, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="a user")
    onnx.save(model, str(path))


def test_an_onnx_file_with_two_inputs_and_state(tmp_path: Path, capsys) -> None:
    """Item 6: bench/run/inspect take the file; import-onnx declares state, which the runner carries."""
    _two_input_onnx(tmp_path / "user.onnx")
    assert main(["bench", str(tmp_path / "user.onnx"), "-t", "onnxruntime", "-n", "50", "--min-duration", "0"]) == 0
    assert main(["inspect", str(tmp_path / "user.onnx")]) == 0
    out = capsys.readouterr().out
    assert "input    x ['n', 3] float32" in out and "input    h ['n', 4] float32" in out
    assert main(["import-onnx", str(tmp_path / "user.onnx"), "-o", str(tmp_path / "b"), "--state", "h=h_out"]) == 0
    from neuroedge.bundle import load

    bundle = load(tmp_path / "b")
    runner = registry.open_runner(bundle, "onnxruntime")
    assert [s.name for s in runner.inputs] == ["x"]  # the state input is the runner's to feed
    x = np.ones((2, 3), np.float32)
    y1, h1 = runner.run([x])
    y2, h2 = runner.run([x])
    np.testing.assert_allclose(y1, x @ (np.arange(12).reshape(3, 4) / 10))  # zeros first
    np.testing.assert_allclose(h1, np.full((2, 4), 3.0))
    np.testing.assert_allclose(y2, y1 + h1, rtol=1e-6)  # then the last call's h_out
    np.testing.assert_allclose(h2, 0.5 * h1 + 3.0)
    for name in ("splitquant", "to-snn", "mcu"):  # converters that need torch say why they cannot take it
        with pytest.raises(ValueError, match="needs a PyTorch model"):
            registry.get_converter(name).convert(str(tmp_path / "user.onnx"), {}, tmp_path / f"o-{name}")
    assert main(["import-onnx", str(tmp_path / "user.onnx"), "-o", str(tmp_path / "c"), "--state", "h=nope"]) == 1
    assert "both must name an input and an output" in capsys.readouterr().err


class Cell(nn.Module):
    """A GRU step with its hidden state as an input and an output."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(6, 8, batch_first=True)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.gru(x, h)
        return self.head(out[:, -1]), h


def cell() -> nn.Module:
    torch.manual_seed(0)
    return Cell()


def test_export_with_named_inputs_and_state_runs_a_sequence_step_by_step(tmp_path: Path) -> None:
    """Item 6, export: several named inputs/outputs and a state pair; stepping equals the whole sequence."""
    b = registry.get_converter("export-onnx").convert(
        "tests.unit.test_user_model:cell", {"inputs": "x:1,1,6;h:1,1,8", "outputs": "y,h_out", "state": "h=h_out", "batch_axes": "h=1"},
        tmp_path / "cell")
    assert [s.name for s in b.manifest.inputs] == ["x", "h"] and b.manifest.state[0].output == "h_out"
    seq = np.random.default_rng(0).standard_normal((1, 20, 6)).astype(np.float32)
    runner, eager = registry.open_runner(b, "onnxruntime"), registry.open_runner(b, "torch")
    for t in range(20):
        y, _ = runner.run([seq[:, t : t + 1]])
        y_eager, _ = eager.run([seq[:, t : t + 1]])  # the torch target carries the state the same way
        np.testing.assert_allclose(y_eager, y, atol=1e-5)
    model = cell()
    model.load_state_dict(torch.load(b.file("torch/weights.pt"), weights_only=True))
    with torch.inference_mode():
        want = model(torch.from_numpy(seq), torch.zeros(1, 1, 8))[0].numpy()
    np.testing.assert_allclose(y, want, atol=1e-5)


def test_bench_says_samples_and_batches_and_the_iteration_cap(mlp_bundle, tmp_path: Path, capsys) -> None:
    """Item 7: a 64-row --data is 64 samples per call; a target's cap on calls is printed."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((64, 64), dtype=np.float32))
    assert main(["bench", str(mlp_bundle.path), "-t", "onnxruntime", "--data", str(tmp_path / "x.npy"),
                 "-n", "50", "--min-duration", "0"]) == 0
    out = capsys.readouterr().out
    batches = float(out.split(" batches/s")[0].rsplit(" ", 1)[-1])
    samples = float(out.split(" samples/s")[0].rsplit(" ", 1)[-1])
    assert "calls of batch 64" in out and samples == pytest.approx(64 * batches, rel=0.01)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))


class Residual(nn.Module):
    """A small residual CNN: a shape the project's examples never have."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.c1(x))
        y = torch.relu(self.bn(self.c2(y)) + y)
        return self.fc(y.flatten(1))


def residual() -> nn.Module:
    torch.manual_seed(0)
    return Residual().eval()


def test_a_residual_cnn_goes_where_it_can_and_is_refused_with_the_reason_elsewhere(tmp_path: Path) -> None:
    np.save(tmp_path / "cal.npy", np.random.default_rng(0).random((32, 1, 8, 8), dtype=np.float32))
    ref, cal = "tests.unit.test_user_model:residual", str(tmp_path / "cal.npy")
    x = np.random.default_rng(1).random((1, 1, 8, 8), dtype=np.float32)
    with torch.inference_mode():
        want = residual()(torch.from_numpy(x)).numpy()
    onnx_b = registry.get_converter("export-onnx").convert(ref, {"input_shape": "1,1,8,8"}, tmp_path / "onnx")
    for target in ("onnxruntime", "torch"):
        np.testing.assert_allclose(registry.open_runner(onnx_b, target).run([x])[0], want, atol=1e-4)
    q = registry.get_converter("splitquant").convert(ref, {"bits": 8, "calibration": cal}, tmp_path / "q")
    got = registry.open_runner(q, "onnxruntime").run([x])[0]
    assert np.argmax(got) == np.argmax(want) and np.abs(got - want).max() < 0.1 * np.abs(want).max()
    with pytest.raises(ValueError, match="branching .*residual add"):
        registry.get_converter("to-snn").convert(ref, {"calibration": cal}, tmp_path / "snn")
    with pytest.raises(ValueError, match="not a plain chain"):
        registry.get_converter("mcu").convert(ref, {"calibration": cal}, tmp_path / "mcu")
