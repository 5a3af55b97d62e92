"""The gesture CNN through the deploy pipelines: ONNX -> onnxruntime, and ONNX/QCDQ -> TensorRT up to the GPU.

The pipelines are the example's own TOML files (examples/gesture_snn/deploy_*.toml) with a freshly
initialised, seeded CNN instead of the trained weights, and random calibration frames. Where TensorRT or a
CUDA device is missing, the tensorrt step must stop with the same one-line reason `neuroedge targets`
prints; building and running an engine is a separate ``gpu`` test, skipped here with that reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from examples.gesture_snn.model import INPUT_SHAPE, gesture_cnn
from neuroedge import pipeline, registry
from neuroedge.bundle import load
from neuroedge.trt import build as tb
from neuroedge.trt import qdq as tq

torch = pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "gesture_snn"


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A seeded, untrained gesture CNN's state_dict and 64 random calibration frames in [0, 1]."""
    d = tmp_path_factory.mktemp("gesture")
    torch.manual_seed(0)
    torch.save(gesture_cnn().state_dict(), d / "cnn.pt")
    np.save(d / "calib.npy", np.random.default_rng(0).random((64, *INPUT_SHAPE[1:]), dtype=np.float32))
    return {"dir": d, "weights": d / "cnn.pt", "calibration": d / "calib.npy"}


def _config(name: str, assets: dict[str, Path], **extra: Any) -> dict[str, Any]:
    # No prepare hook (it would train the real CNN) and the test's weights instead of the cached ones.
    return pipeline.load_config(EXAMPLE / name, {"model.prepare": "", "model.weights": str(assets["weights"]),
                                                 **extra})


def _torch_model(assets: dict[str, Path]) -> Any:
    model = gesture_cnn()
    model.load_state_dict(torch.load(assets["weights"], weights_only=True))
    return model.eval()


@pytest.fixture(scope="module")
def onnx_bundle(assets: dict[str, Path]) -> Any:
    bundle, _ = pipeline.build(_config("deploy_onnxruntime.toml", assets), assets["dir"] / "ort")
    return bundle


def test_export_and_onnxruntime_match_torch(onnx_bundle: Any, assets: dict[str, Path]) -> None:
    assert onnx_bundle.format == "onnx"
    assert onnx_bundle.manifest.inputs[0].shape == ("batch", 2, 32, 32)
    assert onnx_bundle.manifest.metrics["onnx_max_abs_error"] <= onnx_bundle.manifest.metrics["onnx_tolerance"]
    model = _torch_model(assets)
    runner = registry.open_runner(onnx_bundle, "onnxruntime", {"threads": 1})
    try:
        x = np.random.default_rng(1).random((5, *INPUT_SHAPE[1:]), dtype=np.float32)
        with torch.inference_mode():
            want = model(torch.from_numpy(x)).numpy()
        batch1 = np.concatenate([runner.run([x[i:i + 1]])[0] for i in range(len(x))])
        batched = runner.run([x[:4]])[0]  # the exported batch axis is dynamic
    finally:
        runner.close()
    assert batch1.shape == (5, 11) and batched.shape == (4, 11)
    np.testing.assert_allclose(batch1, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(batched, want[:4], rtol=1e-4, atol=1e-5)
    assert (batch1.argmax(1) == want.argmax(1)).all()


def _expect_stop_at_tensorrt(config: dict[str, Any], out: Path) -> Any:
    """Build the pipeline; without TensorRT/GPU the tensorrt step stops with the `targets` reason."""
    ok, why = tb.tensorrt_status()
    if ok:
        pytest.skip("TensorRT and a CUDA device are present: test_tensorrt_engine_on_gpu covers the build")
    assert registry.target_status("tensorrt") == why  # what `neuroedge targets` prints
    with pytest.raises(registry.RegistryError) as err:
        pipeline.build(config, out)
    assert str(err.value) == f"tensorrt: cannot build here: {why}"
    assert "\n" not in str(err.value)
    (source,) = sorted((out / "steps").glob("00-*"))  # the step before tensorrt was written and is valid
    assert not (out / "steps" / "01-tensorrt").exists()
    return load(source)


def test_tensorrt_fp16_pipeline_stops_where_a_gpu_is_needed(assets: dict[str, Path]) -> None:
    config = _config("deploy_tensorrt.toml", assets)
    assert config["steps"][1]["params"]["precision"] == "fp16"
    source = _expect_stop_at_tensorrt(config, assets["dir"] / "trt-fp16")
    assert source.format == "onnx"
    qdq = tq.analyze_qdq(source.main_file)
    assert qdq["quantize_nodes"] == 0
    tb.check_precision("fp16", qdq)  # float ONNX: fp16 is allowed, int8 is refused in one line
    with pytest.raises(tb.TensorRTBuildError, match="int8 needs explicit Q/DQ on activations"):
        tb.check_precision("int8", qdq)


def test_tensorrt_int8_qcdq_pipeline_passes_the_checks(assets: dict[str, Path]) -> None:
    config = _config("deploy_tensorrt_int8.toml", assets, **{"splitquant.calibration": str(assets["calibration"]),
                                                            "splitquant.check_samples": 2})
    source = _expect_stop_at_tensorrt(config, assets["dir"] / "trt-int8")
    assert source.format == "qcdq-onnx"
    qdq = tq.analyze_qdq(source.main_file)
    # One INT8 activation Q/DQ in front of each of the 5 conv/linear layers (brevitas QCDQ).
    assert qdq["activation_qdq"] == 5 and qdq["min_activation_bits"] == 8
    tb.check_precision("int8", qdq)
    runner = registry.open_runner(source, "onnxruntime", {"threads": 1})  # the file TensorRT would get runs
    try:
        out = runner.run([np.load(assets["calibration"])[:1]])[0]
    finally:
        runner.close()
    assert out.shape == (1, 11) and np.isfinite(out).all()
    # The prep pass the tensorrt converter and the jetson target apply: INT32 bias DQ and weight Clips folded,
    # the same numbers in onnxruntime, the same classification.
    import onnxruntime as ort

    prepared = assets["dir"] / "int8-prepared.onnx"
    qdq2, log = tq.prepare_for_build(source.main_file, prepared, "int8", "10.3.0")
    assert qdq2 == qdq and log["folded_bias_dequantize"] == 5 and log["folded_weight_clips"] == 5
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    x = np.load(assets["calibration"])[:8]
    want, got = (ort.InferenceSession(str(f), opts, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
                 for f in (source.main_file, prepared))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.gpu
def test_tensorrt_engine_on_gpu(onnx_bundle: Any, assets: dict[str, Path]) -> None:
    ok, why = tb.tensorrt_status()
    if not ok:
        pytest.skip(f"tensorrt: {why}")
    bundle, _ = pipeline.build(_config("deploy_tensorrt.toml", assets), assets["dir"] / "trt-gpu")
    assert bundle.format == "tensorrt-plan" and bundle.manifest.metrics["build_seconds"] > 0
    x = np.random.default_rng(2).random((1, *INPUT_SHAPE[1:]), dtype=np.float32)
    with torch.inference_mode():
        want = _torch_model(assets)(torch.from_numpy(x)).numpy()
    runner = registry.open_runner(bundle, "tensorrt")
    try:
        got = runner.run([x])[0]
    finally:
        runner.close()
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-3)  # FP16 kernels


def test_tensorrt_refuses_brevitas_4bit_weight_only_qcdq(assets: dict[str, Path]) -> None:
    conv = registry.get_converter("splitquant")
    params = registry.parse_params(conv.params, {"bits": 4, "scheme": "paper", "split": False, "qonnx": False,
                                                 "check_samples": 1, "input_shape": list(INPUT_SHAPE),
                                                 "weights": str(assets["weights"])}, where="test")
    source = conv.convert("examples.gesture_snn.model:gesture_cnn", params, assets["dir"] / "w4", False)
    with pytest.raises(tb.TensorRTBuildError, match="4-bit weight-only Q/DQ"):
        tb.check_precision("fp16", tq.analyze_qdq(source.main_file))
