"""Converter ``export-onnx``: a PyTorch model to an ONNX bundle, checked against onnxruntime.

The export runs at a pinned opset (17: the newest that TensorRT 8.5 on JetPack 5 parses, so one
file serves every board). The default exporter is torch's TorchScript-based one: it takes 0.3 s on
the example CNN against 5-7 s for the dynamo exporter here, and keeps a named dynamic batch axis.
``exporter=dynamo`` is there for models only it handles.

One input: ``input_shape=1,64`` (named ``input``; the output is ``output``). Several named inputs
and outputs: ``inputs="x:1,200,6;h:2,1,16"`` and ``outputs=y,h_out``; an integer input (token ids
for an ``nn.Embedding``) names its dtype: ``inputs=ids:1,12:int64``; recurrent state is declared as
``state=h=h_out`` (the runner feeds ``h_out`` of one call back as ``h`` of the next). The model is
called as ``model(*inputs)`` in the order given.

After export, onnxruntime runs the file on seeded random inputs and each output is compared with
torch: the max absolute error must be within ``atol + rtol * max|torch output|``, and it is
recorded in the manifest's metrics as ``onnx_max_abs_error``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from neuroedge import __version__
from neuroedge.bundle import Manifest, StatePair, TensorSpec
from neuroedge.converters.batch_axes import (
    check_batch,
    describe,
    input_axes,
    output_axes,
    parse_batch_axes,
    rebatched,
    suggest,
)
from neuroedge.registry import MODEL, Converter, opt

OPSET = 17
TORCH_REF_DIR = "torch"


class ExportError(Exception):
    pass


INT_DTYPES = ("int64", "int32")  # token ids and other indices: the check inputs are 0 and 1, valid for any table


def parse_inputs(text: str) -> list[tuple[str, tuple[int, ...], str]]:
    """``"x:1,64;ids:1,12:int64"`` -> [("x", (1, 64), "float32"), ("ids", (1, 12), "int64")]."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, rest = part.partition(":")
        dims, _, dtype = rest.partition(":")
        dtype = dtype.strip() or "float32"
        try:
            shape = tuple(int(d) for d in dims.split(",") if d.strip())
        except ValueError:
            shape = ()
        if not sep or not name.strip() or not shape or any(d < 1 for d in shape):
            raise ValueError(f"inputs {part!r}: expected NAME:D0,D1,... with every dim >= 1, optionally :DTYPE "
                             "(e.g. x:1,64;h:1,16 or ids:1,12:int64)")
        if dtype not in ("float32", *INT_DTYPES):
            raise ValueError(f"inputs {part!r}: dtype {dtype!r}; supported: float32, {', '.join(INT_DTYPES)}")
        out.append((name.strip(), shape, dtype))
    return out


@dataclass(frozen=True)
class ExportParams:
    input_shape: tuple[int, ...] = opt((), "one input's shape, with the batch dimension (e.g. 1,64)")
    inputs: str = opt("", "named inputs, NAME:SHAPE[:DTYPE];... (e.g. x:1,200,6;h:2,1,16, or ids:1,12:int64)")
    outputs: tuple[str, ...] = opt((), "output names, in the order the model returns them")
    state: tuple[str, ...] = opt((), "recurrent state pairs INPUT=OUTPUT, carried by runners from call to call")
    weights: str | None = opt(None, "a state_dict for a factory reference (read with weights_only=True)")
    opset: int = opt(OPSET, "ONNX opset (13..21)")
    exporter: Literal["torchscript", "dynamo"] = opt("torchscript", "torch's exporter")
    dynamic_batch: bool = opt(True, "a dynamic 'batch' axis (axis 0 unless batch_axes says otherwise), checked at "
                                    "a batch of 3")
    batch_axes: str = opt("", "the batch axis per input or output where it is not 0: NAME=AXIS;... or NAME=none "
                              "(e.g. h=1;h_out=1 for a GRU state of (layers, batch, hidden))")
    rtol: float = opt(1e-4, "onnxruntime vs torch: relative tolerance (of max |output|)")
    atol: float = opt(1e-5, "onnxruntime vs torch: absolute tolerance")
    seed: int = opt(0, "seed of the random check inputs")
    trust_pickle: bool = opt(False, "only for .pt2 files, which torch.export.load unpickles")

    def __post_init__(self) -> None:
        if not self.input_shape and not self.inputs:
            raise ValueError("give input_shape (one input, e.g. --param input_shape=1,64) or "
                             "inputs (several, e.g. --param 'inputs=x:1,64;h:1,16')")
        if self.input_shape and self.inputs:
            raise ValueError("give input_shape or inputs, not both")
        if any(d < 1 for d in self.input_shape):
            raise ValueError(f"input_shape {list(self.input_shape)}: every dim must be >= 1")
        parse_inputs(self.inputs)
        parse_batch_axes(self.batch_axes)
        for pair in self.state:
            if "=" not in pair:
                raise ValueError(f"state {pair!r}: expected INPUT=OUTPUT")
        if not 13 <= self.opset <= 21:
            raise ValueError(f"opset {self.opset}: supported range is 13..21")

    def named_inputs(self) -> list[tuple[str, tuple[int, ...], str]]:
        return parse_inputs(self.inputs) if self.inputs else [("input", tuple(self.input_shape), "float32")]


def _export(model: Any, xs: list[Any], in_names: list[str], out_names: list[str], path: Path,
            p: ExportParams, exporter: str, axes: dict[str, int | None]) -> None:
    import torch

    kwargs: dict[str, Any] = {"input_names": in_names, "output_names": out_names, "opset_version": p.opset}
    if exporter == "torchscript":
        if p.dynamic_batch:
            kwargs["dynamic_axes"] = {n: {a: "batch"} for n, a in axes.items() if a is not None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            torch.onnx.export(model, tuple(xs), str(path), dynamo=False, **kwargs)
    else:
        if p.dynamic_batch:
            batch = torch.export.Dim("batch", min=1, max=4096)
            kwargs["dynamic_shapes"] = tuple({} if axes[n] is None else {axes[n]: batch} for n in in_names)
        torch.onnx.export(model, tuple(xs), str(path), dynamo=True, external_data=False, verbose=False, **kwargs)


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


def _compare(got: list[np.ndarray], expected: list[np.ndarray], out_names: list[str], params: ExportParams,
             metrics: dict[str, Any], where: str) -> None:
    """Each output within ``atol + rtol * max|torch|``; the worst error (and its bound) into ``metrics``."""
    for name, g, e in zip(out_names, got, expected, strict=True):
        if g.shape != e.shape:
            raise ExportError(f"onnxruntime's output {name!r} is {list(g.shape)} where torch's is {list(e.shape)}{where}")
        err = float(np.max(np.abs(g - e))) if g.size else 0.0
        bound = params.atol + params.rtol * float(np.max(np.abs(e)) if e.size else 0.0)
        if not np.isfinite(err) or err > bound:
            raise ExportError(f"onnxruntime disagrees with torch on output {name!r}{where}: max |diff| {err:.3g} > "
                              f"tolerance {bound:.3g} (atol {params.atol} + rtol {params.rtol} x max|output|)")
        if err >= metrics["onnx_max_abs_error"]:
            metrics.update(onnx_max_abs_error=err, onnx_tolerance=bound)


FIX = ("Declare each input's batch axis with --param 'batch_axes=NAME=AXIS;...' (e.g. h=1 for a GRU state of "
       "(layers, batch, hidden)), or export a fixed batch with --param dynamic_batch=false")


def _torch_at_check_batch(model: Any, xs: list[Any], in_names: list[str], axes: dict[str, int | None], seed: int,
                          declared: set[str], batch: int) -> tuple[list[Any], list[np.ndarray]]:
    """Inputs at a batch of ``batch`` on their batch axes, and torch's outputs there."""
    import torch

    big = rebatched(xs, in_names, axes, seed, batch)
    with torch.inference_mode():
        try:
            return big, [o.detach().numpy() for o in _flatten(model(*big))]
        except Exception as exc:
            hint = suggest(model, xs, in_names, axes, seed, declared, batch)
            tip = ("" if hint is None else " It runs with --param 'batch_axes="
                   + ";".join(f"{n}={'none' if a is None else a}" for n, a in hint.items() if a != axes[n]) + "'.")
            raise ExportError(f"the model fails at a batch of {batch} on the axes taken as the batch "
                              f"({describe(axes)}): {type(exc).__name__}: {str(exc).splitlines()[0][:300]}.{tip} "
                              f"{FIX}") from None


def _static_shapes(program_module: Any) -> bool:
    """Whether every input of an ExportedProgram's module has a fixed shape (no symbolic dimension)."""
    vals = [n.meta.get("val") for n in program_module.graph.nodes if n.op == "placeholder"]
    return all(v is not None and all(isinstance(d, int) for d in v.shape) for v in vals)


def _flatten(out: Any) -> list[Any]:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    return [out]


def convert(source: Any, params: ExportParams, folder: Path) -> Manifest:
    """PyTorch model (package.module:factory, TorchScript or state_dict) -> ONNX, checked with onnxruntime"""
    import torch

    model = source.module
    named = params.named_inputs()
    gen = torch.Generator().manual_seed(params.seed)
    xs = [torch.rand(shape, generator=gen) if dtype == "float32" else
          torch.randint(0, 2, shape, generator=gen, dtype=getattr(torch, dtype)) for _, shape, dtype in named]
    with torch.inference_mode():
        try:
            expected = [o.detach().numpy() for o in _flatten(model(*xs))]
        except Exception as exc:
            shapes = ", ".join(f"{n} {list(s)} {d}" for n, s, d in named)
            raise ExportError(f"the model does not accept inputs {shapes}: {type(exc).__name__}: {exc}") from None
    out_names = list(params.outputs) or (["output"] if len(expected) == 1 else [f"output{i}" for i in range(len(expected))])
    if len(out_names) != len(expected):
        raise ExportError(f"outputs names {len(out_names)} outputs ({', '.join(out_names)}), but the model returns "
                          f"{len(expected)}")
    in_names = [n for n, _, _ in named]
    state = [StatePair(*pair.split("=", 1)) for pair in params.state]
    onnx_path = folder / "model.onnx"
    # An ExportedProgram's module cannot be put in eval mode, which the TorchScript exporter does first
    # ("Calling train() is not supported yet"): only the dynamo exporter takes it.
    exporter = "dynamo" if source.origin.get("kind") == "exported-program" else params.exporter
    if params.dynamic_batch and source.origin.get("kind") == "exported-program" and _static_shapes(model):
        # torch.export specialised every input's shape (no dynamic_shapes), so no batch but the traced one can run.
        warnings.warn(f"{source.origin.get('path')}: the ExportedProgram has static input shapes (exported without "
                      "dynamic_shapes), so the ONNX file keeps its fixed batch; export it with dynamic_shapes for a "
                      "dynamic batch", UserWarning, stacklevel=2)
        params = replace(params, dynamic_batch=False)
    declared = parse_batch_axes(params.batch_axes) if params.dynamic_batch else {}
    try:
        axes = input_axes(declared, {n: tuple(x.shape) for n, x in zip(in_names, xs, strict=True)}, out_names)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    big: list[Any] = []
    batch = check_batch(None if axes[in_names[0]] is None else int(xs[0].shape[axes[in_names[0]]]))
    if params.dynamic_batch:
        big, expected_big = _torch_at_check_batch(model, xs, in_names, axes, params.seed, set(declared), batch)
        try:
            axes.update(output_axes(expected, expected_big, out_names, declared, describe(axes), batch))
        except ValueError as exc:
            raise ExportError(f"{exc}. {FIX}") from None
        if all(axes[n] is None for n in out_names):  # e.g. a time-major input, whose axis 0 is the time
            raise ExportError(f"no output changed with the batch ({describe(axes)}: outputs "
                              f"{', '.join(f'{n} {list(e.shape)}' for n, e in zip(out_names, expected, strict=True))} "
                              f"at a batch of {batch} as at the traced one), so the axes taken as the batch are not it "
                              f"(a time-major input's axis 0 is the time). {FIX}")
    else:
        axes.update(dict.fromkeys(out_names))
    _export(model, xs, in_names, out_names, onnx_path, params, exporter, axes)
    metrics: dict[str, Any] = {"onnx_max_abs_error": 0.0, "onnx_tolerance": 0.0}
    _compare(verify_with_onnxruntime(onnx_path, [x.numpy() for x in xs]), expected, out_names, params, metrics, "")
    if params.dynamic_batch:
        where = f" at a batch of {batch} ({describe({n: axes[n] for n in in_names})})"
        try:
            got = verify_with_onnxruntime(onnx_path, [x.numpy() for x in big])
        except Exception as exc:
            raise ExportError(f"the exported file does not run{where}: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:300]}. The trace may have fixed the batch (a reshape to "
                              f"a constant size, for one). {FIX}") from None
        _compare(got, expected_big, out_names, params, metrics, f"{where}. {FIX}")
        metrics["onnx_batch_checked"] = batch
    # Keep what the torch reference target needs to run the same model eagerly.
    (folder / TORCH_REF_DIR).mkdir()
    reference = source.torch_reference()
    if reference is not None:
        torch.save(model.state_dict(), folder / reference.weights)
    else:
        from neuroedge.manifest import TorchReference

        # A module, TorchScript or ExportedProgram: keep a TorchScript trace, which loads without pickle.
        traced = torch.jit.trace(model, tuple(xs), check_trace=False)
        traced.save(str(folder / TORCH_REF_DIR / "model.ts"))
        reference = TorchReference("torchscript", path=f"{TORCH_REF_DIR}/model.ts")
    ins, outs = _specs(onnx_path)
    return Manifest(format="onnx", main="model.onnx", inputs=ins, outputs=outs, state=state, metrics=metrics,
                    torch_reference=reference,
                    extra={"opset": params.opset, "exporter": exporter, "torch": torch.__version__,
                           "batch_axes": {n: a for n, a in axes.items()} if params.dynamic_batch else {}})


CONVERTER = Converter("export-onnx", ExportParams, convert, reads=MODEL, writes="onnx", version=__version__)
