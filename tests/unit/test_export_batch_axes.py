"""export-onnx's dynamic batch: each tensor's own batch axis, checked at a batch of 3 (or refused)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neuroedge.converters.batch_axes import parse_batch_axes
from neuroedge.converters.export_onnx import CONVERTER, ExportError, ExportParams
from neuroedge.registry import open_runner


class Cell(nn.Module):
    """A GRU step whose state is (layers, batch, hidden): its batch is axis 1."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(6, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.gru(x, h)
        return self.head(out[:, -1]), h


class TimeMajor(nn.Module):
    """A sequence model fed (time, batch, features), as nn.GRU's default layout."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(6, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(x)[0][-1])


class BakedBatch(nn.Module):
    """``int(x.size(0))`` is a constant to the tracer: the file reshapes every batch to the traced one."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.view(int(x.size(0)), 4, 16).sum(1))


def cell() -> nn.Module:
    torch.manual_seed(0)
    return Cell()


def time_major() -> nn.Module:
    torch.manual_seed(0)
    return TimeMajor()


def baked() -> nn.Module:
    torch.manual_seed(0)
    return BakedBatch()


HERE = "tests.unit.test_export_batch_axes"


def test_a_gru_state_left_at_axis_0_is_refused_with_the_axes_that_work(tmp_path: Path) -> None:
    params = ExportParams(inputs="x:1,1,6;h:2,1,8", outputs=("y", "h_out"), state=("h=h_out",))
    with pytest.raises(ExportError, match=r"fails at a batch of 3.*It runs with --param 'batch_axes=h=1'"):
        CONVERTER.convert(f"{HERE}:cell", params, tmp_path / "b")


def test_a_declared_state_axis_exports_a_file_that_batches_and_steps_like_torch(tmp_path: Path) -> None:
    params = ExportParams(inputs="x:1,1,6;h:2,1,8", outputs=("y", "h_out"), state=("h=h_out",), batch_axes="h=1")
    b = CONVERTER.convert(f"{HERE}:cell", params, tmp_path / "b")
    shapes = {s.name: s.shape for s in (*b.manifest.inputs, *b.manifest.outputs)}
    assert shapes == {"x": ("batch", 1, 6), "h": (2, "batch", 8), "y": ("batch", 4), "h_out": (2, "batch", 8)}
    assert b.manifest.metrics["onnx_batch_checked"] == 3
    seq = np.random.default_rng(0).standard_normal((4, 10, 6)).astype(np.float32)  # a batch of 4 recordings
    runner = open_runner(b, "onnxruntime")
    for t in range(10):
        y = runner.run([seq[:, t : t + 1]])[0]
    with torch.inference_mode():
        want = cell()(torch.from_numpy(seq), torch.zeros(2, 4, 8))[0].numpy()
    np.testing.assert_allclose(y, want, atol=1e-5)


def test_a_wrong_output_declaration_is_refused(tmp_path: Path) -> None:
    params = ExportParams(inputs="x:1,1,6;h:2,1,8", outputs=("y", "h_out"), batch_axes="h=1;h_out=0")
    with pytest.raises(ExportError, match=r"batch_axes h_out=0, but output 'h_out' is \[2, 1, 8\]"):
        CONVERTER.convert(f"{HERE}:cell", params, tmp_path / "b")


def test_a_time_major_input_needs_its_batch_axis(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no output changed with the batch.*time-major"):
        CONVERTER.convert(f"{HERE}:time_major", ExportParams(inputs="x:5,1,6"), tmp_path / "a")
    b = CONVERTER.convert(f"{HERE}:time_major", ExportParams(inputs="x:5,1,6", batch_axes="x=1"), tmp_path / "b")
    assert b.manifest.inputs[0].shape == (5, "batch", 6) and b.manifest.outputs[0].shape == ("batch", 3)
    x = np.random.default_rng(1).standard_normal((5, 7, 6)).astype(np.float32)
    with torch.inference_mode():
        want = time_major()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(open_runner(b, "onnxruntime").run([x])[0], want, atol=1e-5)


def test_a_batch_baked_into_the_trace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not run at a batch of 3.*fixed the batch"):
        CONVERTER.convert(f"{HERE}:baked", ExportParams(input_shape=(1, 64)), tmp_path / "a")
    b = CONVERTER.convert(f"{HERE}:baked", ExportParams(input_shape=(1, 64), dynamic_batch=False), tmp_path / "b")
    assert b.manifest.inputs[0].shape == (1, 64) and "onnx_batch_checked" not in b.manifest.metrics


def test_traced_at_3_checks_at_5(tmp_path: Path) -> None:
    b = CONVERTER.convert(f"{HERE}:cell", ExportParams(inputs="x:3,1,6;h:2,3,8", outputs=("y", "h_out"),
                                                       batch_axes="h=1"), tmp_path / "b")
    assert b.manifest.metrics["onnx_batch_checked"] == 5


def test_bad_batch_axes_name_the_option() -> None:
    assert parse_batch_axes("h=1; t=none") == {"h": 1, "t": None}
    for text, msg in (("h", "expected NAME=AXIS"), ("h=-1", "integer >= 0"), ("h=x", "integer >= 0")):
        with pytest.raises(ValueError, match=msg):
            ExportParams(input_shape=(1, 4), batch_axes=text)


def test_batch_axes_must_name_a_tensor_and_an_axis_it_has(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="batch_axes names 'hidden', which are not inputs or outputs"):
        CONVERTER.convert(f"{HERE}:cell", ExportParams(inputs="x:1,1,6;h:2,1,8", batch_axes="hidden=1"), tmp_path / "a")
    with pytest.raises(ExportError, match="batch_axes h=3: input 'h' has only 3 axes"):
        CONVERTER.convert(f"{HERE}:cell", ExportParams(inputs="x:1,1,6;h:2,1,8", batch_axes="h=3"), tmp_path / "b")


def test_an_exported_program_keeps_its_static_batch_or_its_dynamic_one(tmp_path: Path) -> None:
    """torch.export without dynamic_shapes fixes the batch: kept, with a warning (was refused at a batch of 3)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    torch.export.save(torch.export.export(model, (torch.zeros(1, 4),)), str(tmp_path / "static.pt2"))
    dyn = torch.export.export(model, (torch.zeros(2, 4),), dynamic_shapes=({0: torch.export.Dim("b")},))
    torch.export.save(dyn, str(tmp_path / "dynamic.pt2"))
    params = ExportParams(input_shape=(1, 4), trust_pickle=True)
    with pytest.warns(UserWarning, match="static.pt2: the ExportedProgram has static input shapes"):
        b = CONVERTER.convert(str(tmp_path / "static.pt2"), params, tmp_path / "s")
    assert b.manifest.inputs[0].shape == (1, 4) and "onnx_batch_checked" not in b.manifest.metrics
    b = CONVERTER.convert(str(tmp_path / "dynamic.pt2"), params, tmp_path / "d")
    assert b.manifest.inputs[0].shape == ("batch", 4) and b.manifest.metrics["onnx_batch_checked"] == 3
    x = np.random.default_rng(0).random((6, 4), dtype=np.float32)
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(open_runner(b, "onnxruntime").run([x])[0], want, atol=1e-5)
