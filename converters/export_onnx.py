"""Converter ``export-onnx``: a PyTorch model to an ONNX bundle, checked against onnxruntime.

The export runs at a pinned opset (17: the newest that TensorRT 8.5 on JetPack 5 parses, so one
file serves every board). The default exporter is torch's TorchScript-based one: it takes 0.3 s on
the example CNN against 5-7 s for the dynamo exporter here, and keeps a named dynamic batch axis.
``exporter=dynamo`` is there for models only it handles.

After export, onnxruntime runs the file on a seeded random input and the result is compared with
torch: the max absolute error must be within ``atol + rtol * max|torch output|``, and it is
recorded in the manifest's metrics as ``onnx_max_abs_error``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from neuroedge import __version__
from neuroedge.bundle import Bundle, ChainStep, Manifest, TensorSpec, staging, write_manifest
from neuroedge.bundle import load as load_bundle
from neuroedge.registry import Converter, params_to_json

OPSET = 17
TORCH_REF_DIR = "torch"


class ExportError(Exception):
    pass


@dataclass(frozen=True)
class ExportParams:
    input_shape: tuple[int, ...] = ()
    weights: str | None = None  # a state_dict for a factory reference (read with weights_only=True)
    opset: int = OPSET
    exporter: Literal["torchscript", "dynamo"] = "torchscript"
    dynamic_batch: bool = True
    rtol: float = 1e-4
    atol: float = 1e-5
    seed: int = 0
    trust_pickle: bool = False  # only for .pt2 files, which torch.export.load unpickles

    def __post_init__(self) -> None:
        if not self.input_shape:
            raise ValueError("input_shape is required, e.g. --param input_shape=1,64")
        if any(d < 1 for d in self.input_shape):
            raise ValueError(f"input_shape {list(self.input_shape)}: every dim must be >= 1")
        if not 13 <= self.opset <= 21:
            raise ValueError(f"opset {self.opset}: supported range is 13..21")


def _export(model: Any, x: Any, path: Path, p: ExportParams) -> None:
    import torch

    kwargs: dict[str, Any] = {
        "input_names": ["input"],
        "output_names": ["output"],
        "opset_version": p.opset,
    }
    if p.exporter == "torchscript":
        if p.dynamic_batch:
            kwargs["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            torch.onnx.export(model, (x,), str(path), dynamo=False, **kwargs)
    else:
        if p.dynamic_batch:
            kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=4096)},)
        torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False, verbose=False, **kwargs)


def _specs(onnx_path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    init = {i.name for i in m.graph.initializer}

    def spec(v: Any) -> TensorSpec:
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "batch") for d in v.type.tensor_type.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name
        return TensorSpec(v.name, tuple(dims), dtype)

    return [spec(v) for v in m.graph.input if v.name not in init], [spec(v) for v in m.graph.output]


def verify_with_onnxruntime(onnx_path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    feed = {i.name: a for i, a in zip(sess.get_inputs(), inputs, strict=True)}
    return sess.run(None, feed)


def convert(source: Any, params: ExportParams, out: Path, force: bool = False) -> Bundle:
    import torch

    from neuroedge.modelref import LoadedModel, load_model, model_hash

    if isinstance(source, torch.nn.Module):
        loaded = LoadedModel(source.eval(), {"kind": "module"})
    else:
        loaded = load_model(source, weights=params.weights, trust_pickle=params.trust_pickle)
    model = loaded.module
    gen = torch.Generator().manual_seed(params.seed)
    x = torch.rand(params.input_shape, generator=gen)
    with torch.inference_mode():
        try:
            expected = model(x)
        except Exception as exc:
            raise ExportError(
                f"the model does not accept an input of shape {list(params.input_shape)}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None
    if isinstance(expected, (tuple, list)):
        expected = expected[0]
    expected_np = expected.detach().numpy()

    def writer(folder: Path) -> None:
        onnx_path = folder / "model.onnx"
        _export(model, x, onnx_path, params)
        got = verify_with_onnxruntime(onnx_path, [x.numpy()])[0]
        err = float(np.max(np.abs(got - expected_np))) if got.size else 0.0
        bound = params.atol + params.rtol * float(np.max(np.abs(expected_np)) if expected_np.size else 0.0)
        if not np.isfinite(err) or err > bound:
            raise ExportError(
                f"onnxruntime disagrees with torch: max |diff| {err:.3g} > tolerance {bound:.3g} "
                f"(atol {params.atol} + rtol {params.rtol} x max|output|)"
            )
        metrics["onnx_max_abs_error"] = err
        metrics["onnx_tolerance"] = bound
        # Keep what the torch reference target needs to run the same model eagerly.
        ref = folder / TORCH_REF_DIR
        ref.mkdir()
        if loaded.source.get("kind") == "factory":
            torch.save(model.state_dict(), ref / "weights.pt")
            extra["torch_reference"] = {"kind": "factory", "factory": loaded.source["factory"],
                                        "kwargs": loaded.source.get("kwargs", {}),
                                        "weights": f"{TORCH_REF_DIR}/weights.pt"}
        else:
            # A module, TorchScript or ExportedProgram: keep a TorchScript trace, which loads without pickle.
            traced = torch.jit.trace(model, x, check_trace=False)
            traced.save(str(ref / "model.ts"))
            extra["torch_reference"] = {"kind": "torchscript", "path": f"{TORCH_REF_DIR}/model.ts"}
        ins, outs = _specs(onnx_path)
        specs["inputs"], specs["outputs"] = ins, outs

    metrics: dict[str, Any] = {}
    extra: dict[str, Any] = {"opset": params.opset, "exporter": params.exporter, "torch": torch.__version__}
    specs: dict[str, list[TensorSpec]] = {}
    step = ChainStep("export-onnx", __version__, params_to_json(params), model_hash(model))

    # The specs are only known once the file is written, so stage, then write the manifest.
    with staging(out, force=force) as tmp:
        writer(tmp)
        write_manifest(tmp, Manifest(
            format="onnx", main="model.onnx", inputs=specs["inputs"], outputs=specs["outputs"],
            chain=[step], metrics=metrics, extra=extra,
        ))
    return load_bundle(out)


CONVERTER = Converter(
    name="export-onnx",
    summary="PyTorch model (package.module:factory, TorchScript or state_dict) -> ONNX, checked with onnxruntime",
    params=ExportParams,
    convert=convert,
    accepts="model",
    version=__version__,
)
