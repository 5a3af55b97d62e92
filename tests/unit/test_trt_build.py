"""The TensorRT path up to where a GPU is needed: Q/DQ analysis, refusals, compatibility checks, trtexec parsing.

The tests that build and run an engine need TensorRT and a CUDA device; here they skip with the reason.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroedge.trt import build as tb
from neuroedge.trt import qdq as tq
from tests.qdq_fixtures import qdq_matmul

onnx = pytest.importorskip("onnx")
from onnx import TensorProto  # noqa: E402


def _qdq_linear(path: Path, weight_bits: int | None, act_bits: int | None) -> Path:
    """x[batch,4] -> MatMul -> y[batch,3], with brevitas-style Q/DQ (see tests/qdq_fixtures.py)."""
    return qdq_matmul(path, weight_bits, act_bits)


def test_analyze_qdq_counts_bits(tmp_path: Path) -> None:
    assert tq.analyze_qdq(_qdq_linear(tmp_path / "f.onnx", None, None))["quantize_nodes"] == 0
    int4w = tq.analyze_qdq(_qdq_linear(tmp_path / "w4.onnx", 4, None))
    assert int4w == {"nonzero_zero_point_qdq": 0, "quantize_nodes": 1, "weight_qdq": 1, "activation_qdq": 0,
                     "min_weight_bits": 4, "min_activation_bits": None}
    both = tq.analyze_qdq(_qdq_linear(tmp_path / "w8a8.onnx", 8, 8))
    assert both["min_weight_bits"] == 8 and both["min_activation_bits"] == 8
    assert tq.analyze_qdq(_qdq_linear(tmp_path / "w2.onnx", 2, 8))["min_weight_bits"] == 2


@pytest.mark.parametrize(
    ("weight_bits", "act_bits", "precision", "message"),
    [
        (4, None, "fp16", "4-bit weight-only Q/DQ; TensorRT gives no INT8 kernels"),
        (8, 4, "int8", "no INT4 activation kernels"),
        (None, None, "int8", "int8 needs explicit Q/DQ on activations"),
    ],
)
def test_check_precision_refuses_in_one_line(tmp_path: Path, weight_bits, act_bits, precision, message) -> None:
    qdq = tq.analyze_qdq(_qdq_linear(tmp_path / "m.onnx", weight_bits, act_bits))
    with pytest.raises(tb.TensorRTBuildError, match=message) as err:
        tb.check_precision(precision, qdq)
    assert "\n" not in str(err.value)


def test_check_precision_accepts_int8_qdq_and_float(tmp_path: Path) -> None:
    tb.check_precision("int8", tq.analyze_qdq(_qdq_linear(tmp_path / "q.onnx", 8, 8)))
    # 2-bit weights beside INT8 activation Q/DQ: TensorRT runs them in INT8 kernels, so no refusal.
    tb.check_precision("int8", tq.analyze_qdq(_qdq_linear(tmp_path / "w2a8.onnx", 2, 8)))
    for precision in ("fp32", "fp16"):
        tb.check_precision(precision, tq.analyze_qdq(_qdq_linear(tmp_path / "f.onnx", None, None)))
    with pytest.raises(tb.TensorRTBuildError, match="precision 'int4'"):
        tb.check_precision("int4", {})


def _bundle(tmp_path: Path, onnx_path: Path, fmt: str):
    from neuroedge.bundle import Manifest, TensorSpec, save

    def writer(folder: Path) -> None:
        (folder / "model.onnx").write_bytes(onnx_path.read_bytes())

    return save(tmp_path / f"b-{fmt}", Manifest(fmt, "model.onnx", (TensorSpec("x", ("batch", 4)),),
                                                (TensorSpec("y", ("batch", 3)),)), writer)


def test_converter_refuses_sub8bit_before_touching_a_gpu(tmp_path: Path) -> None:
    from neuroedge.converters.tensorrt import CONVERTER, TensorRTParams
    from neuroedge.registry import RegistryError

    src = _bundle(tmp_path, _qdq_linear(tmp_path / "w4.onnx", 4, None), "qcdq-onnx")
    with pytest.raises(RegistryError, match="tensorrt: the ONNX has 4-bit weight-only Q/DQ") as err:
        CONVERTER.convert(src, TensorRTParams(precision="fp16"), tmp_path / "out")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_converter_without_tensorrt_says_why(tmp_path: Path) -> None:
    ok, why = tb.tensorrt_status()
    if ok:
        pytest.skip("TensorRT and a GPU are present: the GPU test covers the build")
    from neuroedge.converters.tensorrt import CONVERTER, TensorRTParams
    from neuroedge.registry import RegistryError

    src = _bundle(tmp_path, _qdq_linear(tmp_path / "f.onnx", None, None), "onnx")
    with pytest.raises(RegistryError, match="cannot build here: (no tensorrt|.*CUDA|.*GPU)"):
        CONVERTER.convert(src, TensorRTParams(), tmp_path / "out")


def test_params_validate_batch_profile() -> None:
    from neuroedge.converters.tensorrt import TensorRTParams
    from neuroedge.registry import RegistryError, parse_params

    assert parse_params(TensorRTParams, {"max_batch": "16", "precision": "int8"}).max_batch == 16
    with pytest.raises(RegistryError, match="min_batch <= opt_batch <= max_batch"):
        parse_params(TensorRTParams, {"opt_batch": "4", "max_batch": "2"})


def test_target_available_is_true_or_one_line() -> None:
    from neuroedge.targets.tensorrt import TARGET

    status = TARGET.available()
    assert status is True or (isinstance(status, str) and "\n" not in status and status)
    assert TARGET.formats == ("tensorrt-plan",)


def test_engine_compatibility_check() -> None:
    log = {"tensorrt_version": "10.3.0", "gpu": "Orin", "compute_capability": "8.7"}
    assert tb.check_engine_compatible(log, "10.3.0", {"gpu": "Orin", "compute_capability": "8.7"}) is None
    msg = tb.check_engine_compatible(log, "10.7.0", {"gpu": "Orin", "compute_capability": "8.7"})
    assert "TensorRT 10.3.0, this runtime is 10.7.0: rebuild" in msg
    msg = tb.check_engine_compatible(log, "10.3.0", {"gpu": "NVIDIA H100", "compute_capability": "9.0"})
    assert "compute 8.7" in msg and "compute 9.0" in msg and "rebuild it on this GPU" in msg
    k1 = tb.engine_cache_key("sha256:a", "10.3.0", "Orin", "fp16", (1, 1, 8))
    assert k1 != tb.engine_cache_key("sha256:a", "8.6.2", "Orin", "fp16", (1, 1, 8))


TRTEXEC_OUTPUT = """\
[11/25/2026-10:00:01] [I] === Performance summary ===
[11/25/2026-10:00:01] [I] Throughput: 10469.9 qps
[11/25/2026-10:00:01] [I] Latency: min = 0.0783691 ms, max = 0.386719 ms, mean = 0.0912 ms, median = 0.0898 ms, \
percentile(90%) = 0.0947 ms, percentile(95%) = 0.0977 ms, percentile(99%) = 0.11377 ms
[11/25/2026-10:00:01] [I] Enqueue Time: min = 0.02 ms, max = 0.2 ms, mean = 0.03 ms, median = 0.029 ms, \
percentile(90%) = 0.031 ms, percentile(95%) = 0.033 ms, percentile(99%) = 0.05 ms
[11/25/2026-10:00:01] [I] H2D Latency: min = 0.004 ms, max = 0.03 ms, mean = 0.005 ms, median = 0.005 ms, \
percentile(90%) = 0.006 ms, percentile(95%) = 0.006 ms, percentile(99%) = 0.009 ms
[11/25/2026-10:00:01] [I] GPU Compute Time: min = 0.06 ms, max = 0.35 ms, mean = 0.079 ms, median = 0.078 ms, \
percentile(90%) = 0.081 ms, percentile(95%) = 0.083 ms, percentile(99%) = 0.1 ms
[11/25/2026-10:00:01] [I] D2H Latency: min = 0.003 ms, max = 0.02 ms, mean = 0.004 ms, median = 0.004 ms, \
percentile(90%) = 0.005 ms, percentile(95%) = 0.005 ms, percentile(99%) = 0.007 ms
[11/25/2026-10:00:01] [I] Total Host Walltime: 3.00016 s
[11/25/2026-10:00:01] [I] Total GPU Compute Time: 2.48 s
"""


def test_parse_trtexec_summary() -> None:
    from neuroedge.targets.tensorrt import parse_trtexec_summary

    s = parse_trtexec_summary(TRTEXEC_OUTPUT)
    assert s["throughput_qps"] == pytest.approx(10469.9)
    assert s["latency"]["median"] == pytest.approx(0.0898) and s["latency"]["p99"] == pytest.approx(0.11377)
    assert s["gpu_compute_time"]["mean"] == pytest.approx(0.079)  # not the "Total GPU Compute Time" line
    assert set(s) == {"throughput_qps", "latency", "enqueue_time", "h2d_latency", "gpu_compute_time", "d2h_latency"}
    with pytest.raises(ValueError, match="no 'Latency:' line"):
        parse_trtexec_summary("[I] Engine built in 3 s")


def test_board_files_parse_as_python_38() -> None:
    import neuroedge.trt as package

    folder = Path(package.__file__).parent
    assert "qdq.py" not in package.BOARD_FILES  # host only: the board has no onnx package
    for name in package.BOARD_FILES:
        src = (folder / name).read_text()
        tree = ast.parse(src, feature_version=(3, 8))  # JetPack 5 ships Python 3.8
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0]
        assert not {m.split(".")[0] for m in imported} & {"neuroedge", "onnx"}, name  # not on the board
        assert "sys.path" not in src


def test_clock_lock_detection() -> None:
    from neuroedge.trt.runner import clocks_locked

    locked = "cpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600\n" \
             "GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000"
    unlocked = "cpu0: Online=1 Governor=schedutil MinFreq=729600 MaxFreq=2201600 CurrentFreq=729600\n" \
               "GPU MinFreq=306000000 MaxFreq=1300500000 CurrentFreq=306000000"
    assert clocks_locked(locked) is True and clocks_locked(unlocked) is False and clocks_locked(None) is None


def test_runner_script_runs_standalone_with_onnxruntime(tmp_path: Path) -> None:
    """The board runner as the board runs it: a separate process, its own folder, no neuroedge import."""
    import neuroedge.trt as package

    (tmp_path / "trt").mkdir()  # the job folder as the jetson target uploads it
    for name in package.BOARD_FILES:
        (tmp_path / "trt" / name).write_text((Path(package.__file__).parent / name).read_text())
    _qdq_linear(tmp_path / "model.onnx", None, None)
    np.savez(tmp_path / "inputs.npz", x=np.ones((1, 4), np.float32))
    out = subprocess.run([sys.executable, "-E", "-s", "-m", "trt.runner", "--onnx", "model.onnx", "--inputs", "inputs.npz",
                          "--backend", "onnxruntime", "--iterations", "50", "--duration-s", "0", "--warmup-s", "0"],
                         cwd=tmp_path, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.split("NEUROEDGE-RESULT", 1)[1])
    assert result["backend"] == "onnxruntime" and len(result["timings"]["host_latency_ms"]) >= 50
    assert "clocks_locked" in result["board"]


@pytest.mark.gpu
def test_build_and_run_engine_on_gpu(tmp_path: Path) -> None:
    ok, why = tb.tensorrt_status()
    if not ok:
        pytest.skip(why)
    from neuroedge.bench import BenchConfig
    from neuroedge.converters.tensorrt import CONVERTER, TensorRTParams
    from neuroedge.targets.tensorrt import TARGET

    src = _bundle(tmp_path, _qdq_linear(tmp_path / "f.onnx", None, None), "onnx")
    plan = CONVERTER.convert(src, TensorRTParams(precision="fp32", max_batch=4), tmp_path / "plan")
    log = plan.manifest.extra["build"]
    assert log["tensorrt_version"].startswith("10.") and log["compute_capability"] and log["build_seconds"] > 0
    assert (plan.path / "timing.cache").stat().st_size > 0
    runner = TARGET.open(plan, {})
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    (y,) = runner.run([x])
    np.testing.assert_allclose(y, x @ np.ones((4, 3), np.float32), rtol=1e-5)
    report = runner.benchmark([x[:1]], BenchConfig(iterations=100, min_duration_s=0.1))
    assert report.settings["gpu_compute_ms"]["p50"] > 0
    runner.close()


# ---- the Q/DQ prep pass on real brevitas QCDQ exports -------------------------------------------------

def _tiny_cnn():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 5)).eval()


@pytest.fixture(scope="module")
def brevitas_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The splitquant converter's QCDQ ONNX of a tiny CNN: W8A8, W2A8 (INT8 activations) and W4 weight-only."""
    pytest.importorskip("brevitas")
    pytest.importorskip("onnxruntime")
    from neuroedge import registry

    d = tmp_path_factory.mktemp("qcdq")
    np.save(d / "calib.npy", np.random.default_rng(0).random((32, 2, 8, 8), dtype=np.float32))
    conv = registry.get_converter("splitquant")
    out = {}
    for name, bits, scheme in (("w8a8", 8, "sym-per-tensor-act8"), ("w2a8", 2, "sym-per-tensor-act8"),
                               ("w4", 4, "paper")):
        extra = {"calibration": str(d / "calib.npy")} if scheme.endswith("act8") else {}
        params = registry.parse_params(conv.params, {"bits": bits, "scheme": scheme, "split": False, "qonnx": False,
                                                     "check_samples": 1, "input_shape": [1, 2, 8, 8], **extra},
                                       where="test")
        out[name] = conv.convert(_tiny_cnn(), params, d / name, False).main_file
    return out


def _ort(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the graph's own arithmetic
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _ops_on(path: Path) -> list[tuple[str, str]]:
    """(op, dtype of its first input when that is an initializer) for every Clip/DequantizeLinear/Q node."""
    model = onnx.load(str(path))
    inits = {i.name: TensorProto.DataType.Name(i.data_type) for i in model.graph.initializer}
    return [(n.op_type, inits.get(n.input[0], "tensor")) for n in model.graph.node
            if n.op_type in ("Clip", "DequantizeLinear", "QuantizeLinear")]


@pytest.mark.parametrize("weights", ["int8", "float-qdq"])
@pytest.mark.parametrize("name", ["w8a8", "w2a8", "w4"])
def test_prep_pass_folds_bias_dq_and_weight_clip_exactly(brevitas_exports, tmp_path: Path, name: str,
                                                         weights: str) -> None:
    src = brevitas_exports[name]
    before = _ops_on(src)
    # What TensorRT rejects: INT32 bias DequantizeLinear (W8A8/W2A8 use Int32Bias), Clip on a weight constant.
    # The 4-bit "paper" scheme is asymmetric: UINT8 weights with a zero point, float biases.
    wtype, n_bias = ("UINT8", 0) if name == "w4" else ("INT8", 3)
    assert before.count(("DequantizeLinear", "INT32")) == n_bias and before.count(("Clip", wtype)) == 3
    dst = tmp_path / "prepared.onnx"
    log = tq.prepare_qdq_for_tensorrt(src, dst, weights)
    after = _ops_on(dst)
    assert ("DequantizeLinear", "INT32") not in after and not any(op == "Clip" for op, _ in after)
    assert log["folded_bias_dequantize"] == n_bias and log["folded_weight_clips"] == 3
    if weights == "int8":  # TensorRT 10: INT8 constant -> DequantizeLinear
        assert after.count(("DequantizeLinear", wtype)) == 3 and log["requantized_weights"] == 0
    else:  # TensorRT 8.x: float -> QuantizeLinear -> DequantizeLinear
        assert after.count(("QuantizeLinear", "FLOAT")) == 3 and log["requantized_weights"] == 3
    x = np.random.default_rng(1).random((4, 2, 8, 8), dtype=np.float32)
    np.testing.assert_allclose(_ort(dst, x), _ort(src, x), rtol=1e-6, atol=1e-7)
    assert tq.analyze_qdq(dst) == tq.analyze_qdq(src)  # same classification, same check_precision verdict
    record = json.loads(next(p.value for p in onnx.load(str(dst)).metadata_props if p.key == tq.PREP_KEY))
    assert record["pass"] == "tensorrt-qdq-prep" and record["source_hash"] == tb.sha256_file(src)


def test_prepare_for_build_gates_then_prepares(brevitas_exports, tmp_path: Path) -> None:
    qdq, log = tq.prepare_for_build(brevitas_exports["w8a8"], tmp_path / "p.onnx", "int8", "10.3.0")
    assert qdq["min_weight_bits"] == 8 and qdq["activation_qdq"] == 3
    assert log["weights"] == "int8" and log["prepared_hash"] == tb.sha256_file(tmp_path / "p.onnx")
    assert tq.prepare_for_build(brevitas_exports["w8a8"], tmp_path / "p8.onnx", "int8", "8.6.2")[1]["weights"] \
        == "float-qdq"
    qdq2, _ = tq.prepare_for_build(brevitas_exports["w2a8"], tmp_path / "p2.onnx", "int8")
    assert qdq2["min_weight_bits"] == 2  # the folded [-2, 1] Clip is remembered
    with pytest.raises(tb.TensorRTBuildError, match="4-bit weight-only Q/DQ"):
        tq.prepare_for_build(brevitas_exports["w4"], tmp_path / "p4.onnx", "fp16")
    assert not (tmp_path / "p4.onnx").exists()
    # The 4-bit "paper" scheme is asymmetric (UINT8 + zero point): TensorRT would reject that too.
    assert tq.analyze_qdq(brevitas_exports["w4"])["nonzero_zero_point_qdq"] == 3
    assert tq.analyze_qdq(brevitas_exports["w8a8"])["nonzero_zero_point_qdq"] == 0
    with pytest.raises(tb.TensorRTBuildError, match="3 DequantizeLinear nodes with a nonzero zero point.*symmetric") as err:
        tb.check_precision("fp16", {"nonzero_zero_point_qdq": 3, "min_weight_bits": 8, "activation_qdq": 0})
    assert "\n" not in str(err.value)
    float_onnx = _qdq_linear(tmp_path / "f.onnx", None, None)
    qdq3, log3 = tq.prepare_for_build(float_onnx, tmp_path / "pf.onnx", "fp16")
    assert log3 is None and (tmp_path / "pf.onnx").read_bytes() == float_onnx.read_bytes()
    assert tb.weight_style_for(None) == "int8" and tb.weight_style_for("8.5.2") == "float-qdq"


@pytest.mark.gpu
def test_int8_qcdq_engine_on_gpu(brevitas_exports, tmp_path: Path) -> None:
    ok, why = tb.tensorrt_status()
    if not ok:
        pytest.skip(why)
    from neuroedge.bundle import Manifest, TensorSpec, save
    from neuroedge.converters.tensorrt import CONVERTER, TensorRTParams
    from neuroedge.targets.tensorrt import TARGET

    src_file = brevitas_exports["w8a8"]
    src = save(tmp_path / "src", Manifest("qcdq-onnx", "model.onnx", (TensorSpec("input", ("batch", 2, 8, 8)),),
                                          (TensorSpec("output", ("batch", 5)),)),
               lambda folder: (folder / "model.onnx").write_bytes(src_file.read_bytes()))
    plan = CONVERTER.convert(src, TensorRTParams(precision="int8", max_batch=4), tmp_path / "plan")
    prep = plan.manifest.extra["build"]["qdq_prep"]
    assert prep["folded_bias_dequantize"] == 3 and prep["weights"] == "int8"
    x = np.random.default_rng(3).random((1, 2, 8, 8), dtype=np.float32)
    runner = TARGET.open(plan, {})
    try:
        (y,) = runner.run([x])
    finally:
        runner.close()
    np.testing.assert_allclose(y, _ort(src_file, x), rtol=5e-2, atol=5e-2)  # INT8 kernels reorder the sums
