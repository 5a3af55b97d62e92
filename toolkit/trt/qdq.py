"""Q/DQ analysis and the TensorRT prep pass: host only (needs the ``onnx`` package), never shipped to a board.

``analyze_qdq`` says what quantisation a graph carries as TensorRT will see it; ``check_precision``
(``neuroedge.trt.build``) refuses what TensorRT would run in float or not at all; ``prepare_for_build``
does both and rewrites a brevitas QCDQ graph into the form TensorRT's ONNX parser accepts.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from typing import Any

from .build import TensorRTBuildError, check_precision, weight_style_for
from .cuda import sha256_file


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


PREP_KEY = "neuroedge.tensorrt_qdq_prep"
WEIGHT_STYLES = ("int8", "float-qdq")


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
