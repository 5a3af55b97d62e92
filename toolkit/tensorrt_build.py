"""Build a TensorRT engine from ONNX: shared by the ``tensorrt`` converter (host) and the jetson runner (board).

Self-contained on purpose: stdlib + ``tensorrt`` (+ ``onnx``/numpy only for ``analyze_qdq`` and the Q/DQ prep
pass ``prepare_qdq_for_tensorrt``, both host side), Python 3.8+, no neuroedge imports. The jetson target copies this file next to its runner on the board, because an engine
is tied to the TensorRT version and GPU that built it, so it must be built there.

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

import ctypes
import ctypes.util
import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PRECISIONS = ("fp32", "fp16", "int8")


class TensorRTBuildError(RuntimeError):
    """A build that cannot proceed; the message is one line with the fix."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


# ---- CUDA facts through the driver API (ctypes: no pycuda / cuda-python needed) ----------------------

def _load_lib(names: Sequence[str]) -> ctypes.CDLL | None:
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    found = ctypes.util.find_library(names[0].split(".so")[0].replace("lib", "", 1))
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError:
            return None
    return None


def cuda_info() -> dict[str, Any]:
    """Driver version, device count, and device 0's name and compute capability, or ``error``.

    Uses libcuda's ``cuInit``, ``cuDriverGetVersion``, ``cuDeviceGetCount``, ``cuDeviceGetName`` and
    ``cuDeviceGetAttribute`` (75/76 = compute capability major/minor); the runtime version comes from
    libcudart's ``cudaRuntimeGetVersion`` when that library is found.
    """
    info: dict[str, Any] = {"device_count": 0}
    lib = _load_lib(["libcuda.so.1", "libcuda.so", "nvcuda.dll"])
    if lib is None:
        info["error"] = "no CUDA driver (libcuda.so.1 not found)"
        return info
    rc = lib.cuInit(0)
    if rc != 0:
        info["error"] = f"cuInit failed with CUresult {rc} (no usable CUDA device)"
        return info
    ver = ctypes.c_int(0)
    lib.cuDriverGetVersion(ctypes.byref(ver))
    info["driver_cuda_version"] = f"{ver.value // 1000}.{ver.value % 1000 // 10}"
    count = ctypes.c_int(0)
    lib.cuDeviceGetCount(ctypes.byref(count))
    info["device_count"] = count.value
    if count.value < 1:
        info["error"] = "no CUDA device"
        return info
    dev = ctypes.c_int(0)
    lib.cuDeviceGet(ctypes.byref(dev), 0)
    name = ctypes.create_string_buffer(256)
    lib.cuDeviceGetName(name, 256, dev)
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    lib.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)
    lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)
    info["gpu"] = name.value.decode(errors="replace")
    info["compute_capability"] = f"{major.value}.{minor.value}"
    rt = _load_lib(["libcudart.so", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so.10.2"])
    if rt is not None:
        rver = ctypes.c_int(0)
        if rt.cudaRuntimeGetVersion(ctypes.byref(rver)) == 0:
            info["cuda_runtime_version"] = f"{rver.value // 1000}.{rver.value % 1000 // 10}"
    nv = Path("/proc/driver/nvidia/version")
    if nv.is_file():
        first = nv.read_text(errors="replace").splitlines()[0]
        info["driver"] = first.split("Kernel Module")[-1].strip().split()[0] if "Kernel Module" in first else first
    return info


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


# ---- Q/DQ analysis (host side, needs the onnx package) ------------------------------------------------

def _bits_from_range(lo: float, hi: float) -> int:
    return max(1, int(math.ceil(math.log2(hi - lo + 1))))


def analyze_qdq(onnx_path: str | os.PathLike) -> dict[str, Any]:
    """What quantisation an ONNX graph carries, as TensorRT will see it.

    A QuantizeLinear whose input is an initializer (a constant) quantises a weight; any other quantises an
    activation. Its bit width is 8 for int8/uint8 zero points, 4 for INT4/UINT4 (opset 21), and narrower
    when a Clip to ``[lo, hi]`` follows it (brevitas' QCDQ: ``bits = ceil(log2(hi - lo + 1))``).
    Returns counts and the lowest weight and activation widths (``None`` where there is no Q/DQ).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path), load_external_data=False)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    consts = dict(inits)
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            consts[node.output[0]] = node.attribute[0].t
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    elem = onnx.TensorProto
    # Bit widths the prep pass read from the Clips it folded away (see prepare_qdq_for_tensorrt).
    folded_bits = _prep_record(model).get("weight_bits", {})
    weight_bits: list[int] = []
    act_bits: list[int] = []
    for node in graph.node:
        if node.op_type != "QuantizeLinear":
            continue
        bits = 8
        if len(node.input) > 2 and node.input[2] in consts:
            dtype = consts[node.input[2]].data_type
            if dtype in (getattr(elem, "INT4", -1), getattr(elem, "UINT4", -1)):
                bits = 4
        for nxt in consumers.get(node.output[0], []):
            if nxt.op_type == "Clip" and len(nxt.input) >= 3 and all(n in consts for n in nxt.input[1:3]):
                lo = float(numpy_helper.to_array(consts[nxt.input[1]]))
                hi = float(numpy_helper.to_array(consts[nxt.input[2]]))
                bits = min(bits, _bits_from_range(lo, hi))
        is_weight = node.input[0] in inits
        if is_weight and node.input[0] in folded_bits:
            bits = min(bits, int(folded_bits[node.input[0]]))
        (weight_bits if is_weight else act_bits).append(bits)
    # brevitas QCDQ stores weights already quantised: an int8 constant (-> Clip) -> DequantizeLinear, with no
    # QuantizeLinear. INT32 constants are biases (Int32Bias) and say nothing about kernel precision.
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type != "DequantizeLinear":
            continue
        src, bits = node.input[0], 8
        clip = producers.get(src)
        if clip is not None and clip.op_type == "Clip" and clip.input[0] in consts:
            src = clip.input[0]
            if len(clip.input) >= 3 and all(n in consts for n in clip.input[1:3]):
                bits = _bits_from_range(float(numpy_helper.to_array(consts[clip.input[1]])),
                                        float(numpy_helper.to_array(consts[clip.input[2]])))
        if src not in consts or consts[src].data_type == elem.INT32:
            continue
        if consts[src].data_type in (getattr(elem, "INT4", -1), getattr(elem, "UINT4", -1)):
            bits = min(bits, 4)
        if src in folded_bits:
            bits = min(bits, int(folded_bits[src]))
        weight_bits.append(bits)
    # TensorRT quantises symmetrically only: a Q/DQ zero point must be 0 (an INT32 bias has none that matters).
    asymmetric = 0
    for node in graph.node:
        # DequantizeLinear only: every quantiser ends in one, so a Q/DQ pair counts once.
        if node.op_type == "DequantizeLinear" and len(node.input) > 2 and node.input[2] in consts:
            src = consts.get(node.input[0])
            if src is not None and src.data_type == elem.INT32:
                continue
            if numpy_helper.to_array(consts[node.input[2]]).any():
                asymmetric += 1
    return {
        "nonzero_zero_point_qdq": asymmetric,
        "quantize_nodes": len(weight_bits) + len(act_bits),
        "weight_qdq": len(weight_bits),
        "activation_qdq": len(act_bits),
        "min_weight_bits": min(weight_bits) if weight_bits else None,
        "min_activation_bits": min(act_bits) if act_bits else None,
    }


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


# ---- Q/DQ preparation for TensorRT's ONNX parser (host side, needs onnx + numpy) ---------------------

PREP_KEY = "neuroedge.tensorrt_qdq_prep"
WEIGHT_STYLES = ("int8", "float-qdq")


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


def _prep_record(model: Any) -> dict[str, Any]:
    for prop in model.metadata_props:
        if prop.key == PREP_KEY:
            return json.loads(prop.value)
    return {}


def _dequantize(x: Any, scale: Any, zero_point: Any, axis: int) -> Any:
    """ONNX DequantizeLinear in numpy, as onnxruntime computes it: ``float32(x - zp) * scale`` (float32).

    A 1-D scale (per-channel) broadcasts along ``axis``; a scalar scale is per-tensor.
    """
    import numpy as np

    scale = np.asarray(scale, dtype=np.float32)
    zp = np.zeros((), np.int64) if zero_point is None else np.asarray(zero_point).astype(np.int64)
    if scale.ndim == 1 and scale.size > 1 and x.ndim > 1:
        shape = [1] * x.ndim
        shape[axis % x.ndim] = scale.size
        scale = scale.reshape(shape)
        zp = zp.reshape(shape) if zp.ndim == 1 else zp
    return (x.astype(np.int64) - zp).astype(np.float32) * scale


def prepare_qdq_for_tensorrt(src: str | os.PathLike, dst: str | os.PathLike,
                             weights: str = "int8") -> dict[str, Any]:
    """Rewrite a Q/DQ ONNX (brevitas QCDQ) into the form TensorRT's ONNX parser accepts; return what it did.

    brevitas' QCDQ export holds two patterns TensorRT rejects or cannot fold:

    * ``DequantizeLinear`` on an INT32 bias constant (``Int32Bias``): TensorRT's DequantizeLayer takes only
      INT8/FP8/INT4 inputs ("only activation types allowed as input to this layer", onnxruntime#14229,
      RT-DETR#343). Folded here into the float bias ``b = float32(q - zp) * s`` (exactly what the node
      computes), so the Conv/Gemm gets a plain float initializer;
    * ``Clip`` on an int8 weight constant before its ``DequantizeLinear`` (brevitas' narrow range, e.g.
      [-127, 127], or [-2, 1] for 2-bit weights). Folded into the constant (``clip(q, lo, hi)``), so weights
      reach TensorRT as INT8 constant -> DequantizeLinear (``weights="int8"``, TensorRT 10) or, with
      ``weights="float-qdq"`` (TensorRT 8.x), as ``w = DQ(q)`` float -> QuantizeLinear -> DequantizeLinear,
      which round-trips exactly: ``round(q * s / s) = q`` for ``|q| <= 127``.

    Activation Q/DQ pairs are untouched. The graph computes the same numbers (checked by the tests in
    onnxruntime). The narrow bit widths the folded Clips carried are kept in the model's metadata
    (``neuroedge.tensorrt_qdq_prep``), so ``analyze_qdq`` classifies the prepared graph as the original.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    if weights not in WEIGHT_STYLES:
        raise TensorRTBuildError(f"weights {weights!r} is not one of {', '.join(WEIGHT_STYLES)}")
    model = onnx.load(str(src))
    graph = model.graph
    consts: dict[str, Any] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    record = _prep_record(model)
    weight_bits: dict[str, int] = dict(record.get("weight_bits", {}))
    new_inits: dict[str, Any] = {}
    kept = []
    folded_clips = folded_bias = requantized = 0

    def const(name: str) -> Any:
        return consts.get(name) if name else None

    for node in graph.node:
        ins = list(node.input)
        if node.op_type == "Clip" and ins and ins[0] in consts and all(
                n == "" or n in consts for n in ins[1:3]) and consts[ins[0]].dtype.kind in "iu":
            q = consts[ins[0]]
            info = np.iinfo(q.dtype)
            lo = int(const(ins[1])) if len(ins) > 1 and ins[1] else info.min
            hi = int(const(ins[2])) if len(ins) > 2 and ins[2] else info.max
            folded = np.clip(q, lo, hi).astype(q.dtype)
            consts[node.output[0]] = new_inits[node.output[0]] = folded
            if (lo, hi) != (info.min, info.max):
                weight_bits[node.output[0]] = _bits_from_range(lo, hi)
            folded_clips += 1
            continue
        if node.op_type == "DequantizeLinear" and ins[0] in consts and ins[1] in consts and (
                len(ins) < 3 or ins[2] == "" or ins[2] in consts):
            q = consts[ins[0]]
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            zp = const(ins[2]) if len(ins) > 2 else None
            if q.dtype == np.int32:  # a bias: fold into float
                consts[node.output[0]] = new_inits[node.output[0]] = _dequantize(q, consts[ins[1]], zp, axis)
                folded_bias += 1
                continue
            if weights == "float-qdq" and q.dtype in (np.int8, np.uint8):
                w_name = node.output[0] + "_float"
                new_inits[w_name] = _dequantize(q, consts[ins[1]], zp, axis)
                if ins[0] in weight_bits:
                    weight_bits[w_name] = weight_bits.pop(ins[0])
                q_out = node.output[0] + "_requant"
                kept.append(helper.make_node("QuantizeLinear", [w_name, *ins[1:]], [q_out],
                                             name=(node.name or node.output[0]) + "_weight_q", axis=axis))
                node.input[0] = q_out
                requantized += 1
        kept.append(node)

    del graph.node[:]
    graph.node.extend(kept)
    for name, arr in new_inits.items():
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
    # Drop constants nothing reads any more (the INT32 biases, the Clip bounds, the pre-Clip weights).
    used = {n for node in graph.node for n in node.input} | {o.name for o in graph.output}
    alive = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(alive)
    alive_nodes = [n for n in graph.node if n.op_type != "Constant" or n.output[0] in used]
    del graph.node[:]
    graph.node.extend(alive_nodes)
    weight_bits = {k: v for k, v in weight_bits.items() if k in used}

    log = {"pass": "tensorrt-qdq-prep", "weights": weights, "folded_bias_dequantize": folded_bias,
           "folded_weight_clips": folded_clips, "requantized_weights": requantized,
           "source_hash": sha256_file(src)}
    props = [p for p in model.metadata_props if p.key != PREP_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    model.metadata_props.append(onnx.StringStringEntryProto(
        key=PREP_KEY, value=json.dumps({**log, "weight_bits": weight_bits}, sort_keys=True)))
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    log["prepared_hash"] = sha256_file(dst)
    return log


def prepare_for_build(src: str | os.PathLike, dst: str | os.PathLike, precision: str,
                      trt_version: str | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The host-side gate before any build: classify the Q/DQ, refuse in one line, prepare, re-check.

    Returns ``(qdq, prep_log)``; ``prep_log`` is None for a float graph (copied as is). The prepared graph
    is classified again and must match the original (a prep pass that changed what TensorRT would run is
    a bug, not a warning).
    """
    import shutil

    qdq = analyze_qdq(src)
    check_precision(precision, qdq)
    if not qdq["quantize_nodes"] and not _has_dequantize(src):
        shutil.copyfile(src, dst)
        return qdq, None
    log = prepare_qdq_for_tensorrt(src, dst, weight_style_for(trt_version))
    again = analyze_qdq(dst)
    if again != qdq:
        raise TensorRTBuildError(f"{src}: the Q/DQ prep pass changed the graph's quantisation ({qdq} -> {again})")
    return qdq, log


def _has_dequantize(path: str | os.PathLike) -> bool:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(n.op_type == "DequantizeLinear" for n in model.graph.node)


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
