"""The ``splitquant`` converter end to end: bundle files, checks recorded, runs on onnxruntime, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neuroedge.bundle import load
from neuroedge.converters.splitquant import CONVERTER, NoQuantisableLayerError
from neuroedge.converters.splitquant.pack import read_packed
from neuroedge.registry import RegistryError, get_converter, parse_params, target_status

MLP = "examples.digits.models:digits_mlp"


def _params(**raw):
    return parse_params(CONVERTER.params, {k: str(v) for k, v in raw.items()})


@pytest.fixture(scope="module")
def mlp_weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "mlp.pt"
    torch.save(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def int2_bundle(tmp_path_factory, mlp_weights):
    out = tmp_path_factory.mktemp("b") / "mlp-int2"
    conv = get_converter("splitquant")  # through the entry point, as the CLI finds it
    return conv(MLP, _params(bits=2, input_shape="1,64", weights=mlp_weights, merge="false"), out, False)


@pytest.fixture(scope="module")
def merged_bundle(tmp_path_factory, mlp_weights):
    out = tmp_path_factory.mktemp("b") / "mlp-int2-merged"
    return get_converter("splitquant")(MLP, _params(bits=2, input_shape="1,64", weights=mlp_weights), out, False)


def test_int2_bundle_holds_qcdq_qonnx_and_packed_weights_with_their_checks(int2_bundle):
    b = load(int2_bundle.path)
    assert b.format == "qcdq-onnx" and b.main_file.name == "model.qcdq.onnx"
    # torch/weights.pt: the float model the torch target rebuilds the quantised one from
    assert set(b.manifest.files) == {"model.qcdq.onnx", "model.qonnx.onnx", "weights.packed.npz", "torch/weights.pt"}
    m = b.manifest.metrics
    assert m["qcdq_ort_max_abs_error"] < 1e-4 and m["qonnx_max_abs_error"] < 1e-4
    assert m["split_max_rel_error"] <= 1e-5
    assert m["params_after"] == 3 * m["params_before"] and m["split_layers"] == 2
    # INT2 codes: 4 to a byte, 3 copies of 64*128 + 128*10 weights
    assert m["packed_weight_bytes"] == 3 * (64 * 128 + 128 * 10) // 4
    assert m["packed_bytes"] < m["onnx_bytes"]
    assert b.manifest.chain[0].converter == "splitquant" and b.manifest.chain[0].params["bits"] == 2
    assert b.manifest.extra["scheme"] == "asym-per-channel"
    assert len(read_packed(b.file("weights.packed.npz"))) == 6


def test_merged_bundle_equals_the_three_part_bundle(int2_bundle, merged_bundle):
    """merge=true (the default): one layer per original layer, outputs equal to the unmerged bundle's."""
    import onnx

    from neuroedge.registry import open_runner

    m = merged_bundle.manifest
    assert m.extra["merged"] is True and int2_bundle.manifest.extra["merged"] is False
    assert m.metrics["merged_max_rel_error"] <= 1e-5 and m.metrics["merged_levels_max"] <= 12
    ops = [n.op_type for n in onnx.load(str(merged_bundle.main_file)).graph.node]
    assert ops.count("Gemm") + ops.count("MatMul") == 2 and "DequantizeLinear" not in ops  # 2 layers, not 6
    x = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    outs = {}
    for name, b in (("three", int2_bundle), ("merged", merged_bundle)):
        runner = open_runner(b, "onnxruntime", {"disable_quant_qdq": True})
        try:
            outs[name] = np.concatenate([runner.run([x[i:i + 1]])[0] for i in range(len(x))])
        finally:
            runner.close()
    y, ym = outs["three"], outs["merged"]
    assert np.abs(ym - y).max() / np.abs(y).max() <= 1e-5
    # The packed file holds the two merged layers as codebooks that give back the deployed weights.
    packed = read_packed(merged_bundle.file("weights.packed.npz"))
    assert set(packed) == {"0", "2"} and m.metrics["merged_bytes"] < m.metrics["merged_runtime_bytes"]
    # The torch target runs the same model on a merged bundle.
    torch_runner = open_runner(merged_bundle, "torch")
    try:
        yt = torch_runner.run([x[:1]])[0]
    finally:
        torch_runner.close()
    np.testing.assert_allclose(yt, ym[:1], atol=1e-5 * float(np.abs(ym).max()))


def test_bundle_runs_on_the_onnxruntime_target(int2_bundle):
    status = target_status("onnxruntime")
    if status is not True:
        pytest.skip(f"onnxruntime target unavailable: {status}")
    from neuroedge.registry import open_runner

    runner = open_runner(int2_bundle, "onnxruntime")
    try:
        x = np.random.default_rng(0).random((1, 64), dtype=np.float32)
        (y,) = runner.run([x])
    finally:
        runner.close()
    assert y.shape == (1, 10) and np.isfinite(y).all()


def test_nn_module_source_and_act8_scheme_with_calibration(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
    x = np.random.default_rng(0).random((32, 1, 8, 8), dtype=np.float32)
    np.savez(tmp_path / "cal.npz", x=x, y=np.zeros(32, dtype=np.int64))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    b = CONVERTER(model, _params(bits=8, scheme="sym-per-tensor-act8", calibration=tmp_path / "cal.npz"),
                          tmp_path / "out", False)
    assert b.manifest.inputs[0].shape == ("N", 1, 8, 8)
    assert "model.qonnx.onnx" not in b.manifest.files  # 8 bits: QCDQ only
    assert b.manifest.metrics["qcdq_ort_basic_max_abs_error"] < 1e-4
    assert "calibration_accuracy_quant_torch" in b.manifest.metrics
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("bits", ["1", "9", "x"])
def test_bits_outside_2_to_8_are_refused_when_parsing(bits):
    with pytest.raises(RegistryError, match="bits"):
        parse_params(CONVERTER.params, {"bits": bits})


def test_unknown_scheme_is_refused():
    with pytest.raises(RegistryError, match="scheme"):
        parse_params(CONVERTER.params, {"scheme": "int2-magic"})


def test_calibration_data_of_the_wrong_shape_is_a_clear_error(tmp_path, mlp_weights):
    np.save(tmp_path / "cal.npy", np.zeros((10, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"has shape \[10, 8, 8\].*expected \[N, 64\]"):
        CONVERTER(MLP, _params(bits=4, input_shape="1,64", weights=mlp_weights,
                                       calibration=tmp_path / "cal.npy"), tmp_path / "o", False)
    assert not (tmp_path / "o").exists()


def test_model_with_no_quantisable_layer_is_a_clear_error(tmp_path):
    with pytest.raises(NoQuantisableLayerError, match="no nn.Linear, nn.Conv1d or nn.Conv2d"):
        CONVERTER(nn.Sequential(nn.ReLU()), _params(bits=4, input_shape="1,8"), tmp_path / "o", False)
    assert not (tmp_path / "o").exists()


def test_missing_input_shape_and_wrong_input_shape_are_clear_errors(tmp_path, mlp_weights):
    with pytest.raises(ValueError, match="give input_shape"):
        CONVERTER(MLP, _params(bits=4), tmp_path / "o", False)
    with pytest.raises(ValueError, match=r"does not accept inputs of shape \[1, 1, 8, 8\]"):
        CONVERTER(MLP, _params(bits=4, input_shape="1,1,8,8", weights=mlp_weights), tmp_path / "o", False)
