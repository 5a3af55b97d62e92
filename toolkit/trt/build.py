"""Build a TensorRT engine from ONNX: shared by the ``tensorrt`` converter (host) and the board runner.

Shipped to the board (stdlib + ``tensorrt``, Python 3.8+, no neuroedge imports), because an engine is tied
to the TensorRT version and GPU that built it, so it must be built there. The Q/DQ analysis that decides
what ``check_precision`` sees needs ``onnx`` and lives on the host (``neuroedge.trt.qdq``).

Written against the TensorRT 10 Python API (``Builder``, ``OnnxParser``, ``BuilderConfig``,
``build_serialized_network``); the few calls that differ in 8.x (explicit-batch flag, workspace) are
switched on the major version so the board's JetPack TensorRT (8.5/8.6/10.3) builds too.

Precision:
* ``fp32``; ``fp16`` (``BuilderFlag.FP16``);
* ``int8``: explicit quantisation only -- the network must carry Q/DQ (QuantizeLinear/DequantizeLinear) on
  its activations, as the brevitas QCDQ export does. No calibrator (TensorRT 10 deprecates implicit INT8).
  TensorRT has no INT4/INT2 activation kernels, and weight-only Q/DQ below 8 bits gives no INT8 kernels, so
  ``analyze_qdq`` finds such graphs and ``check_precision`` refuses them in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from .cuda import cuda_info, sha256_file

PRECISIONS = ("fp32", "fp16", "int8")


class TensorRTBuildError(RuntimeError):
    """A build that cannot proceed; the message is one line with the fix."""


def tensorrt_status() -> tuple[bool, str]:
    """(True, version) when TensorRT imports and a CUDA device answers; else (False, one-line reason + fix)."""
    try:
        import tensorrt as trt  # noqa: F401
    except ImportError:
        return False, ("no tensorrt Python package: install TensorRT 10 (pip install 'tensorrt>=10,<11' "
                       "from NVIDIA's index; on a Jetson, JetPack's python3-libnvinfer)")
    except Exception as exc:  # a broken install: libnvinfer missing, wrong CUDA
        return False, f"tensorrt fails to import ({type(exc).__name__}: {exc}); reinstall TensorRT"
    cuda = cuda_info()
    if cuda.get("error"):
        return False, f"{cuda['error']}; TensorRT needs an NVIDIA GPU with its driver"
    return True, trt.__version__


def trt_major(trt: Any) -> int:
    return int(str(trt.__version__).split(".")[0])


def check_precision(precision: str, qdq: dict[str, Any]) -> None:
    """Refuse, in one line, a build that TensorRT would run slower than asked, or not at all."""
    if precision not in PRECISIONS:
        raise TensorRTBuildError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    wb, ab = qdq.get("min_weight_bits"), qdq.get("min_activation_bits")
    if ab is not None and ab < 8:
        raise TensorRTBuildError(
            f"the ONNX quantises activations to {ab} bits; TensorRT has no INT{ab} activation kernels: "
            "re-export with 8-bit activations (splitquant act_bits=8)")
    # Sub-8-bit weights next to INT8 activation Q/DQ run in INT8 kernels (the values fit the INT8 grid);
    # only weight-only sub-8-bit Q/DQ has no integer kernel and would silently run in float.
    if wb is not None and wb < 8 and not qdq.get("activation_qdq"):
        raise TensorRTBuildError(
            f"the ONNX has {wb}-bit weight-only Q/DQ; TensorRT gives no INT8 kernels for sub-8-bit weights and "
            "would silently run them in float: re-quantise to INT8 weights and activations, or build fp16 "
            "from the float ONNX")
    if qdq.get("nonzero_zero_point_qdq"):
        raise TensorRTBuildError(
            f"the ONNX has {qdq['nonzero_zero_point_qdq']} DequantizeLinear nodes with a nonzero zero point; TensorRT quantises "
            "symmetrically only (zero point 0): re-quantise with a symmetric scheme (splitquant "
            "scheme=sym-per-channel or sym-per-tensor-act8)")
    if precision == "int8" and not qdq.get("activation_qdq"):
        raise TensorRTBuildError(
            "int8 needs explicit Q/DQ on activations (a QCDQ ONNX from splitquant with activation "
            "quantisation); this graph has none, and TensorRT 10 has no implicit-INT8 calibration here")


def weight_style_for(trt_version: str | None) -> str:
    """How quantised weights should reach a TensorRT of this version.

    TensorRT 10 takes pre-quantised weights as an INT8 constant feeding a DequantizeLinear (its explicit-
    quantisation guide: "When using pre-quantized weights, an IDequantizeLayer is required between the
    weights and the linear operator"; NVIDIA's ModelOpt emits exactly that for TensorRT >= 10). TensorRT 8.x
    documents only high-precision weights that TensorRT quantises itself through a QuantizeLinear, so for 8.x
    (JetPack 5 / 6.0) the weights go in as float -> QuantizeLinear -> DequantizeLinear. Unknown: 10.x.
    """
    try:
        major = int(str(trt_version).split(".")[0])
    except ValueError:
        return "int8"
    return "int8" if major >= 10 else "float-qdq"


# ---- the build --------------------------------------------------------------------------------------

def build_engine(
    onnx_path: str | os.PathLike,
    engine_path: str | os.PathLike,
    precision: str = "fp32",
    batch_profile: tuple[int, int, int] | None = None,
    workspace_mb: int = 1024,
    timing_cache: str | os.PathLike | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Parse ``onnx_path``, build a serialized engine into ``engine_path``, return the build log.

    ``batch_profile = (min, opt, max)`` adds one optimisation profile where every input's dynamic first
    axis ranges over it (other dynamic axes are refused: give them fixed sizes at export). A timing cache
    at ``timing_cache`` is read first if present and saved after, so a rebuild skips kernel timing.
    The log holds TensorRT, CUDA and driver versions, the GPU and its compute capability, the ONNX hash,
    precision, profile and build time (kept apart from any later run).
    """
    if precision not in PRECISIONS:
        raise TensorRTBuildError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    import tensorrt as trt

    major = trt_major(trt)
    logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
    try:
        builder = trt.Builder(logger)
    except Exception as exc:  # without a GPU the Builder itself fails on CUDA initialisation
        raise TensorRTBuildError(f"trt.Builder failed ({exc}); is a CUDA device visible?") from None
    if major >= 10:
        network = builder.create_network(0)  # explicit batch is the only mode in 10.x
    else:
        network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        raise TensorRTBuildError(f"{onnx_path}: TensorRT's ONNX parser failed: {'; '.join(errors)[:400]}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # int8: layers outside Q/DQ may run in fp16
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)  # Q/DQ (explicit) quantisation; no calibrator is set

    inputs = []
    dynamic = False
    for idx in range(network.num_inputs):
        tensor = network.get_input(idx)
        shape = list(tensor.shape)
        inputs.append({"name": tensor.name, "shape": shape, "dtype": str(tensor.dtype)})
        if any(d < 0 for d in shape[1:]):
            raise TensorRTBuildError(
                f"input {tensor.name!r} has dynamic non-batch axes {shape}; export them with fixed sizes")
        dynamic = dynamic or (bool(shape) and shape[0] < 0)
    profile_log = None
    if dynamic:
        lo, opt, hi = batch_profile or (1, 1, 1)
        if not 1 <= lo <= opt <= hi:
            raise TensorRTBuildError(f"batch profile {(lo, opt, hi)} must satisfy 1 <= min <= opt <= max")
        profile = builder.create_optimization_profile()
        for item in inputs:
            rest = item["shape"][1:]
            profile.set_shape(item["name"], [lo] + rest, [opt] + rest, [hi] + rest)
        config.add_optimization_profile(profile)
        profile_log = {"min": lo, "opt": opt, "max": hi}

    cache_bytes = b""
    if timing_cache is not None and Path(timing_cache).is_file():
        cache_bytes = Path(timing_cache).read_bytes()
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)

    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    build_s = time.perf_counter() - t0
    if serialized is None:
        raise TensorRTBuildError(f"{onnx_path}: TensorRT could not build an engine (run with verbose=True)")
    Path(engine_path).write_bytes(bytes(serialized))
    if timing_cache is not None:
        Path(timing_cache).write_bytes(bytes(config.get_timing_cache().serialize()))
    cuda = cuda_info()
    return {
        "tensorrt_version": trt.__version__,
        "cuda_runtime_version": cuda.get("cuda_runtime_version"),
        "driver_cuda_version": cuda.get("driver_cuda_version"),
        "driver": cuda.get("driver"),
        "gpu": cuda.get("gpu"),
        "compute_capability": cuda.get("compute_capability"),
        "onnx_hash": sha256_file(onnx_path),
        "precision": precision,
        "batch_profile": profile_log,
        "inputs": inputs,
        "workspace_mb": workspace_mb,
        "timing_cache_reused": bool(cache_bytes),
        "build_seconds": round(build_s, 3),
        "host": platform.node(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def check_engine_compatible(build_log: dict[str, Any], trt_version: str, cuda: dict[str, Any]) -> str | None:
    """None if an engine built as ``build_log`` says can load here, else a one-line reason with the fix.

    TensorRT engines are not portable across TensorRT versions (unless built version-compatible, which we
    do not) nor across GPU architectures, so compare the full TensorRT version and the compute capability.
    """
    built = build_log.get("tensorrt_version")
    if built != trt_version:
        return (f"engine built with TensorRT {built}, this runtime is {trt_version}: rebuild it here "
                "(neuroedge convert tensorrt from the ONNX bundle)")
    want, have = build_log.get("compute_capability"), cuda.get("compute_capability")
    if want != have:
        return (f"engine built for {build_log.get('gpu')} (compute {want}), this GPU is {cuda.get('gpu')} "
                f"(compute {have}): rebuild it on this GPU")
    return None


def engine_cache_key(onnx_hash: str, trt_version: str, gpu: str, precision: str,
                     batch_profile: tuple[int, int, int] | None) -> str:
    """A cache key for a built engine: the same ONNX, TensorRT, GPU, precision and profile reuse it."""
    blob = json.dumps([onnx_hash, trt_version, gpu, precision, list(batch_profile or ())]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
