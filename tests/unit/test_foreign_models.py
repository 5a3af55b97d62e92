"""Models written the way other projects write them, each through the path it failed on.

Each test fails on the code before its fix: the tutorial flatten ``x.view(x.size(0), -1)`` refused by
to-snn as "branching"; a chain to-snn misread, taken silently; a Conv1d net's mcu refusal naming the
wrong layer; compiled models (TorchScript, .pt2) given to converters that rewrite layers, and a .pt2
to export-onnx; an MLP's BatchNorm1d refused by mcu. ONNX files and data: test_foreign_onnx.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812 - the way their code imports it
from torch import nn

from neuroedge import registry
from neuroedge.cli import main


class TutorialLeNet(nn.Module):
    """LeNet as tutorials write it: functional ReLU, pooling and dropout, ``x.view(x.size(0), -1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.pool = nn.AvgPool2d(2, 2)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 2 * 2, 16, bias=False)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.avg_pool2d(F.relu(self.conv2(x)), 2)  # functional pooling: was "unsupported layer type"
        x = F.dropout(x, 0.1, training=self.training)
        x = x.view(x.size(0), -1)
        return self.fc2(F.relu(self.fc1(x)))


def tutorial_lenet() -> nn.Module:
    torch.manual_seed(0)
    model = TutorialLeNet()
    with torch.no_grad():  # running statistics as training leaves them, so folding BN is checked
        model.bn1.running_mean.uniform_(-0.2, 0.2)
        model.bn1.running_var.uniform_(0.5, 2.0)
    return model.eval()


class Clipped(nn.Module):
    """ReLU6 whose inputs reach far above 6: the SNN runs ReLU, so it approximates another network."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(4, 8), nn.ReLU6(), nn.Linear(8, 2)
        with torch.no_grad():
            self.fc1.weight.fill_(5.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Halved(nn.Sequential):
    """A Sequential whose forward does more than its layers: read as a chain, it is another network."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) / 2


def clipped() -> nn.Module:
    torch.manual_seed(0)
    return Clipped()


def test_to_snn_reads_the_tutorial_flatten_and_reproduces_the_model() -> None:
    from neuroedge.converters.snn import convert_model
    from neuroedge.converters.snn.check import check_model
    from neuroedge.converters.snn.normalize import ann_forward

    model = tutorial_lenet()
    assert check_model(model) == []  # was: "pool_1 ... branching", "view ... branching"
    x = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
    conv = convert_model(model, x)
    got = ann_forward(conv.float_layers, x, conv.input_scale)[-1] * conv.float_layers[-1].scale
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())  # BN folded, bias=False kept
    x4 = np.random.default_rng(0).random((32, 4), dtype=np.float32)
    with pytest.warns(UserWarning, match="ReLU6 clips activations above 6"):  # was: silent
        convert_model(clipped().eval(), x4)
    with pytest.raises(ValueError, match="do not compute its outputs on the calibration inputs"):  # was: silent
        convert_model(Halved(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval(), x4)
    trailing = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.ReLU()).eval()
    assert len(convert_model(trailing, x4).float_layers) == 2  # a ReLU after the last layer keeps its argmax: taken


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(x)) + x  # a real branch stays refused


class MaxPooled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 2, 3, padding=1), nn.Linear(2 * 4 * 4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.max_pool2d(F.relu(self.conv(x)), 2), 1))


def test_a_real_branch_and_a_functional_max_pool_are_still_named() -> None:
    from neuroedge.converters.snn.check import check_model

    assert any("branching" in i.reason for i in check_model(Residual()))
    assert [i.reason.split(";")[0] for i in check_model(MaxPooled())] == [
        "MaxPool has no exact rate-coded spiking equivalent on Loihi"]


class SeriesNet(nn.Module):
    """A 1-D conv net for time series: the firmware has no Conv1d kernel."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2))
        self.head = nn.Linear(4 * 8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def series_net() -> nn.Module:
    torch.manual_seed(0)
    return SeriesNet()


def test_mcu_names_the_conv1d_not_a_shape(tmp_path: Path, capsys) -> None:
    x = np.random.default_rng(0).random((16, 3, 16), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "check.npz", x=x, y=np.zeros(16, np.int64))
    code = main(["convert", "mcu", "tests.unit.test_foreign_models:series_net", "-o", str(tmp_path / "m"),
                 "--param", f"calibration={tmp_path / 'x.npy'}", "--param", f"check={tmp_path / 'check.npz'}"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "features.0 Conv1d" in err and "MaxPool1d" in err and "first layer takes" not in err, err


def small_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()


def test_compiled_models_go_to_export_onnx_and_are_refused_by_converters_that_rewrite_layers(tmp_path: Path) -> None:
    model = small_mlp()
    torch.jit.script(model).save(str(tmp_path / "m.pt"))
    torch.export.save(torch.export.export(model, (torch.zeros(1, 4),)), str(tmp_path / "m.pt2"))
    np.save(tmp_path / "cal.npy", np.random.default_rng(0).random((8, 4), dtype=np.float32))
    for name in ("splitquant", "to-snn", "mcu"):
        conv = registry.get_converter(name)
        with pytest.raises(ValueError, match=f"{name}: rewrites the model's torch layers.*torchscript"):
            conv.convert(str(tmp_path / "m.pt"), {"calibration": str(tmp_path / "cal.npy")}, tmp_path / name)
        with pytest.raises(ValueError, match=f"{name}: does not take ExportedProgram"):  # was: "pass trust_pickle"
            conv.convert(str(tmp_path / "m.pt2"), {"calibration": str(tmp_path / "cal.npy")}, tmp_path / name)
    b = registry.get_converter("export-onnx").convert(str(tmp_path / "m.pt2"),  # was: "Calling train() ..."
                                                      {"input_shape": "1,4", "trust_pickle": True}, tmp_path / "e")
    x = np.random.default_rng(2).random((1, 4), dtype=np.float32)
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(registry.open_runner(b, "onnxruntime").run([x])[0], want, atol=1e-5)


def bn_mlp() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12, bias=False), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(12, 3))
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.3, 3.0)
    return model.eval()


def test_mcu_folds_an_mlps_batchnorm1d(tmp_path: Path) -> None:
    """Was refused ("BatchNorm1d not supported"); the int8 firmware now runs it as the float model does."""
    status = registry.target_status("mcu")
    if status is not True:
        pytest.skip(f"mcu is not available here: {status}")
    x = np.random.default_rng(0).standard_normal((200, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    b = registry.get_converter("mcu").convert("tests.unit.test_foreign_models:bn_mlp",
                                              {"calibration": str(tmp_path / "x.npy"), "firmware": "host"}, tmp_path / "m")
    runner = registry.open_runner(b, "mcu", {"device": "host://"})
    try:
        got = b.manifest.outputs[0].quant.dequantize(runner.run([x[:50]])[0])
    finally:
        runner.close()
    with torch.inference_mode():
        want = bn_mlp()(torch.from_numpy(x[:50])).numpy()
    # int8 activations: a few output steps of error, far below what an unfolded BN (scale ~1/sqrt(var)) would give
    assert np.abs(got - want).max() < 6 * b.manifest.outputs[0].quant.scale
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.95
