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
    bundle = CONVERTER.convert(model, McuParams(calibration=_cal(tmp_path)[0], check=_cal(tmp_path)[1]), tmp_path / "mlp", False)
    assert bundle.format == "mcu-blob"
    m = bundle.manifest
    assert m.inputs[0].dtype == "int8" and m.inputs[0].quant.bits == 8
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
    bundle = CONVERTER.convert(model, McuParams(calibration=_cal(tmp_path)[0], evaluate=False), tmp_path / "b", False)
    q = unpack(bundle.main_file.read_bytes())
    spec = bundle.manifest.inputs[0]
    assert (q.in_scale, q.in_zero_point) == (pytest.approx(spec.quant.scale), spec.quant.zero_point)
    assert R.run(q, R.quantize(data["x_test"][:5], q.in_scale, q.in_zero_point)).shape == (5, 10)


def _cal(tmp_path: Path) -> tuple[str, str]:
    from tests.conftest import digits_files

    return digits_files(tmp_path / "digits")


# ---- refusals at conversion: device limits, unsupported modules, calibration shape ---------------------


def _npy(tmp_path: Path, shape: tuple[int, ...]) -> str:
    path = tmp_path / "cal.npy"
    np.save(path, np.random.default_rng(0).random(shape, dtype=np.float32))
    return str(path)


def _convert(tmp_path: Path, model: nn.Module, shape: tuple[int, ...], **params):
    return CONVERTER.convert(model.eval(), McuParams(calibration=_npy(tmp_path, shape), **params), tmp_path / "out")


def test_refuses_a_cnn_whose_arena_exceeds_the_device(tmp_path: Path) -> None:
    """16 x 32 x 32 activations need a 32 KiB arena; the lm3s6965 build has 6 KiB (QEMU_ARENA)."""
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(16, 10))
    with pytest.raises(ConversionError, match=r"arena of 32768 B .* has 6144 B: raise QEMU_ARENA in "
                                              r"firmware_bridge/firmware/Makefile") as err:
        _convert(tmp_path, cnn, (16, 3, 32, 32))
    assert "the input is 3072 B but the largest frame payload of the lm3s6965 firmware is 1024 B" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_refuses_an_input_bigger_than_the_largest_payload(tmp_path: Path) -> None:
    """A 3,072-byte input fits the host build's arena but not one 1,024-byte frame (MAX_PAYLOAD)."""
    with pytest.raises(ConversionError, match=r"input is 3072 B but the largest frame payload of the host "
                                              r"firmware is 1024 B: raise MAX_PAYLOAD") as err:
        _convert(tmp_path, nn.Sequential(nn.Linear(3072, 10)), (8, 3072), firmware="host")
    assert "arena" not in str(err.value)


def test_records_the_limits_it_checked(tmp_path: Path) -> None:
    bundle = _convert(tmp_path, nn.Sequential(nn.Linear(64, 10)), (8, 64), evaluate=False)
    from neuroedge.firmware_bridge.limits import firmware_limits

    limits = firmware_limits("lm3s6965")
    assert bundle.manifest.extra["firmware_limits"]["arena_bytes"] == limits.arena_bytes == 6144
    assert bundle.manifest.metrics["arena_bytes"] <= limits.arena_bytes


class _Recurrent(nn.Module):
    """A sequence classifier as a user writes one: the last step of an LSTM/GRU, then a Linear."""

    def __init__(self, kind: type) -> None:
        super().__init__()
        self.rnn = kind(64, 16, batch_first=True)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU])
def test_refuses_recurrent_layers_as_it_refuses_a_sigmoid(tmp_path: Path, kind: type) -> None:
    with pytest.raises(ConversionError, match=rf"layers not supported by the mcu firmware:\n  0: rnn {kind.__name__}\n"
                                              r"supported: Linear, Conv2d"):
        _convert(tmp_path, _Recurrent(kind), (8, 5, 64))
    with pytest.raises(ConversionError, match=r"layers not supported by the mcu firmware:\n  1: 1 Sigmoid\n"):
        _convert(tmp_path, nn.Sequential(nn.Linear(64, 10), nn.Sigmoid()), (8, 64))


def test_wrong_shape_calibration_names_the_expected_shape(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"inputs of shape \[8, 30\], but the model's first layer takes "
                                              r"\[N, 64\] .*input_shape=1,64"):
        quantize_model(nn.Sequential(nn.Linear(64, 10)), np.zeros((8, 30), np.float32))
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    with pytest.raises(ConversionError, match=r"\[8, 1, 8, 8\], but the model's first layer takes \[N, 3, H, W\]"):
        quantize_model(conv, np.zeros((8, 1, 8, 8), np.float32))
    # Through the converter, held-out check data of another shape is named against the model's input.
    np.save(tmp_path / "check.npy", np.zeros((4, 30), np.float32))
    with pytest.raises(ValueError, match=r"mcu param 'check'.*expected \[N, 64\]"):
        _convert(tmp_path, nn.Sequential(nn.Linear(64, 10)), (8, 64), check=str(tmp_path / "check.npy"))
