"""Converter ``tensorrt``: an ONNX or QCDQ-ONNX bundle -> a ``tensorrt-plan`` bundle (TensorRT 10 API).

The build itself lives in ``neuroedge.tensorrt_build`` (shared with the jetson runner, which builds on the
board). Checks made before any GPU is touched, so they work and are tested on a CPU-only machine:

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from neuroedge import tensorrt_build as tb
from neuroedge.bundle import Bundle, ChainStep, Manifest, TensorSpec, atomic_write_json, save
from neuroedge.registry import Converter, RegistryError, params_to_json

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


def convert(source: Bundle, params: TensorRTParams, out: Path, force: bool = False) -> Bundle:
    if not isinstance(source, Bundle):
        raise RegistryError("tensorrt converts a bundle (onnx or qcdq-onnx); export the model first")
    if source.format not in ("onnx", "qcdq-onnx"):
        raise RegistryError(f"tensorrt reads onnx or qcdq-onnx bundles; {source.path} is {source.format!r}")
    try:
        tb.check_precision(params.precision, tb.analyze_qdq(source.main_file))
    except tb.TensorRTBuildError as exc:
        raise RegistryError(f"tensorrt: {exc}") from None
    ok, why = tb.tensorrt_status()
    if not ok:
        raise RegistryError(f"tensorrt: cannot build here: {why}")
    trt_version = why  # tensorrt_status gives the version when it is usable

    dynamic = any(isinstance(s.shape[0], str) for s in source.manifest.inputs if s.shape)
    holder: dict = {}

    def writer(folder: Path) -> None:
        # model.onnx is the graph TensorRT parses: the source, or its Q/DQ-prepared form.
        qdq, prep = tb.prepare_for_build(source.main_file, folder / "model.onnx", params.precision, trt_version)
        cache = folder / "timing.cache"
        if params.timing_cache and Path(params.timing_cache).is_file():
            shutil.copyfile(params.timing_cache, cache)
        log = tb.build_engine(folder / "model.onnx", folder / "model.plan", precision=params.precision,
                              batch_profile=(params.min_batch, params.opt_batch, params.max_batch),
                              workspace_mb=params.workspace_mb, timing_cache=cache)
        log["qdq"] = qdq
        log["qdq_prep"] = prep
        (folder / "build_log.json").write_text(json.dumps(log, indent=2) + "\n")
        holder["log"] = log

    manifest = Manifest(
        format="tensorrt-plan",
        main="model.plan",
        inputs=_specs_for_batch(source.manifest.inputs, dynamic),
        outputs=_specs_for_batch(source.manifest.outputs, dynamic),
        chain=(*source.manifest.chain,
               ChainStep("tensorrt", VERSION, params_to_json(params), source.source_hash)),
        metrics={},
        files={},
        extra={},
    )
    bundle = save(out, manifest, writer, force=force)
    # The log exists only after the build: add it to the manifest (the files, hence the hashes, are unchanged).
    log = holder["log"]
    final = replace(bundle.manifest, metrics={"build_seconds": log["build_seconds"]},
                    extra={"build": log, "source_format": source.format})
    atomic_write_json(bundle.path / "manifest.json", final.to_json())
    return Bundle(bundle.path, final)


CONVERTER = Converter(
    name="tensorrt",
    summary="ONNX/QCDQ-ONNX -> TensorRT engine (FP32/FP16, INT8 via explicit Q/DQ), dynamic-batch profile",
    params=TensorRTParams,
    convert=convert,
    accepts="bundle",
    version=VERSION,
)
