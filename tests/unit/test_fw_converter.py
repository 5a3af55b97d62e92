"""The mcu converter: calibrated full-integer PTQ, refusals, and the bundle it writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neuroedge.bundle import load
from neuroedge.converters.mcu import CONVERTER, ConversionError, McuParams, quantize_model
from neuroedge.firmware_bridge import reference as R
from neuroedge.firmware_bridge.blob import LayerType, unpack
from neuroedge.firmware_bridge.models import digits_cnn, trained_digits


def test_converts_a_trained_mlp_with_high_agreement(tmp_path: Path) -> None:
    model, _ = trained_digits("mlp")
    bundle = CONVERTER.convert(model, McuParams(), tmp_path / "mlp", False)
    assert bundle.format == "mcu-blob"
    m = bundle.manifest
    assert m.inputs[0].dtype == "int8" and m.inputs[0].quant["bits"] == 8
    assert m.metrics["int8_float_top1_agreement"] >= 0.97, m.metrics
    assert m.metrics["int8_accuracy"] >= m.metrics["float_accuracy"] - 0.02
    blob = bundle.main_file.read_bytes()
    assert (tmp_path / "mlp" / "model_blob.c").read_text().count("0x") == len(blob)
    assert load(tmp_path / "mlp").manifest.chain[0].converter == "mcu"


def test_cnn_plan_folds_bn_and_relu6_and_permutes_flatten() -> None:
    torch.manual_seed(0)
    model = digits_cnn().eval()
    with torch.no_grad():  # non-trivial BN statistics, so folding is actually tested
        model[4].running_mean.uniform_(-0.5, 0.5)
        model[4].running_var.uniform_(0.5, 2.0)
    x = np.random.default_rng(0).random((200, 1, 8, 8)).astype(np.float32)
    q = quantize_model(model, x)
    assert [layer.type for layer in q.layers] == [
        LayerType.CONV2D,
        LayerType.MAXPOOL,
        LayerType.DWCONV2D,
        LayerType.CONV2D,
        LayerType.AVGPOOL,
        LayerType.DENSE,
    ]
    with torch.no_grad():
        f = model(torch.from_numpy(x)).numpy()
    xq = R.quantize(x, q.in_scale, q.in_zero_point).transpose(0, 2, 3, 1)
    y = R.dequantize(R.run(q, np.ascontiguousarray(xq)), q.out_scale, q.out_zero_point)
    # int8 end to end: within a few output steps of the float model
    assert np.abs(y - f).max() < 8 * q.out_scale + 0.05 * np.abs(f).max(), (np.abs(y - f).max(), q.out_scale)


def test_refuses_weight_only_models_with_the_command() -> None:
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    dyn = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    with pytest.raises(ConversionError, match="full-integer.*neuroedge convert mcu"):
        quantize_model(dyn, np.zeros((4, 64), np.float32))


def test_refuses_unsupported_layers_and_non_chains() -> None:
    with pytest.raises(ConversionError, match="not supported"):
        quantize_model(nn.Sequential(nn.Linear(64, 10), nn.Sigmoid()), np.zeros((4, 64), np.float32))

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(64, 64)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.a(x)

    with pytest.raises(ConversionError, match="plain chain"):
        quantize_model(Residual(), np.random.default_rng(0).random((4, 64)).astype(np.float32))


def test_blob_is_what_the_reference_runs(tmp_path: Path) -> None:
    model, data = trained_digits("mlp")
    bundle = CONVERTER.convert(model, McuParams(evaluate=False), tmp_path / "b", False)
    q = unpack(bundle.main_file.read_bytes())
    spec = bundle.manifest.inputs[0]
    assert (q.in_scale, q.in_zero_point) == (pytest.approx(spec.quant["scale"]), spec.quant["zero_point"])
    assert R.run(q, R.quantize(data["x_test"][:5], q.in_scale, q.in_zero_point)).shape == (5, 10)
