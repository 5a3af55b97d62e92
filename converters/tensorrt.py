"""Converter ``tensorrt``: an ONNX or QCDQ-ONNX bundle -> a ``tensorrt-plan`` bundle (TensorRT 10 API).

The build itself lives in ``neuroedge.trt.build`` (shared with the board runner, which builds on the
board); the Q/DQ analysis and prep pass in ``neuroedge.trt.qdq`` (host only). Checks made before any GPU
is touched, so they work and are tested on a CPU-only machine:

* the precision is possible for this graph (``check_precision``): sub-8-bit Q/DQ is refused in one line,
  since TensorRT has no INT4/INT2 kernels and would run such a graph in float;
* TensorRT imports and a CUDA device answers, else one line saying which is missing.

A Q/DQ graph (brevitas QCDQ) then goes through ``prepare_for_build``: INT32 bias DequantizeLinear nodes and
int8 weight Clips are folded into constants (TensorRT's parser rejects the first), weights reach TensorRT as
INT8 constant -> DequantizeLinear, and the prepared graph must classify as the original. The log of that
pass is ``extra.build.qdq_prep`` (None for a float graph).

The bundle holds ``model.plan``, ``model.onnx`` (the graph TensorRT parsed, so the engine can be rebuilt
elsewhere), ``timing.cache`` (reused by a later build of the same network) and ``build_log.json``; the manifest's
``extra.build`` repeats the log (TensorRT/CUDA/driver versions, GPU, compute capability, ONNX hash,
precision, batch profile) and ``metrics.build_seconds`` keeps the build time apart from any run.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from neuroedge.bundle import Bundle, Manifest, TensorSpec
from neuroedge.registry import Converter, RegistryError
from neuroedge.trt import build as tb
from neuroedge.trt import qdq as tq

VERSION = "0.1.0"


@dataclass(frozen=True)
class TensorRTParams:
    precision: Literal["fp32", "fp16", "int8"] = "fp16"
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 8
    workspace_mb: int = 1024
    timing_cache: str | None = None  # a timing cache file to start from (one is always saved in the bundle)

    def __post_init__(self) -> None:
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise ValueError(f"batch profile ({self.min_batch}, {self.opt_batch}, {self.max_batch}) must satisfy "
                             "1 <= min_batch <= opt_batch <= max_batch")
        if self.workspace_mb < 16:
            raise ValueError("workspace_mb must be >= 16")


def _specs_for_batch(specs: tuple[TensorSpec, ...], dynamic: bool) -> tuple[TensorSpec, ...]:
    if not dynamic:
        return specs
    return tuple(TensorSpec(s.name, ("batch", *s.shape[1:]) if s.shape else s.shape, s.dtype, s.quant)
                 for s in specs)


def convert(source: Bundle, params: TensorRTParams, folder: Path) -> Manifest:
    """an onnx/qcdq-onnx bundle -> a TensorRT engine (FP32/FP16/INT8 Q/DQ), built on the local GPU"""
    try:
        tb.check_precision(params.precision, tq.analyze_qdq(source.main_file))
    except tb.TensorRTBuildError as exc:
        raise RegistryError(f"tensorrt: {exc}") from None
    ok, why = tb.tensorrt_status()
    if not ok:
        raise RegistryError(f"tensorrt: cannot build here: {why}")
    trt_version = why  # tensorrt_status gives the version when it is usable
    dynamic = any(isinstance(s.shape[0], str) for s in source.manifest.inputs if s.shape)
    # model.onnx is the graph TensorRT parses: the source, or its Q/DQ-prepared form.
    qdq, prep = tq.prepare_for_build(source.main_file, folder / "model.onnx", params.precision, trt_version)
    cache = folder / "timing.cache"
    if params.timing_cache and Path(params.timing_cache).is_file():
        shutil.copyfile(params.timing_cache, cache)
    log = tb.build_engine(folder / "model.onnx", folder / "model.plan", precision=params.precision,
                          batch_profile=(params.min_batch, params.opt_batch, params.max_batch),
                          workspace_mb=params.workspace_mb, timing_cache=cache)
    log["qdq"] = qdq
    log["qdq_prep"] = prep
    (folder / "build_log.json").write_text(json.dumps(log, indent=2) + "\n")
    return Manifest(
        format="tensorrt-plan", main="model.plan",
        inputs=_specs_for_batch(source.manifest.inputs, dynamic),
        outputs=_specs_for_batch(source.manifest.outputs, dynamic),
        state=source.manifest.state,
        metrics={"build_seconds": log["build_seconds"]},
        extra={"build": log, "source_format": source.format},
    )


CONVERTER = Converter("tensorrt", TensorRTParams, convert, reads=("onnx", "qcdq-onnx"), writes="tensorrt-plan",
                      version=VERSION)
