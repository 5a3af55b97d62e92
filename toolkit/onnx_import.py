"""Bring an existing ONNX file in as an ``onnx`` bundle: ``neuroedge import-onnx FILE -o BUNDLE``.

Every input and output keeps its name, dtype and dynamic dimensions (a named ``dim_param`` keeps its
name; an unnamed dynamic dimension is named ``<tensor>_d<axis>``). Recurrent state is declared as
input/output pairs (``--state h0=hn``); a runner then feeds each call's ``hn`` back as the next
call's ``h0``, starting from zeros. The file is checked with ``onnx.checker`` and must open in
onnxruntime. Nothing is unpickled: ONNX is protobuf.

``run``, ``bench`` and ``inspect`` also take an ``.onnx`` file directly: it is imported into a
temporary bundle without state pairs (use ``import-onnx --state`` to declare them).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from neuroedge import __version__
from neuroedge.bundle import Bundle, ChainStep, Manifest, StatePair, TensorSpec, load, save, sha256_file
from neuroedge.manifest import DTYPES


class OnnxImportError(ValueError):
    """An ONNX file that cannot become a bundle; the message names the file and the part."""


def _specs(path: Path, values: Any, initializers: set[str], kind: str) -> list[TensorSpec]:
    import onnx

    out = []
    for v in values:
        if v.name in initializers:
            continue
        tt = v.type.tensor_type
        if not v.type.HasField("tensor_type"):
            raise OnnxImportError(f"{path}: {kind} {v.name!r} is not a tensor (sequences and maps are not supported)")
        try:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
        except Exception:
            dtype = f"ONNX type {tt.elem_type}"
        if dtype not in DTYPES:
            raise OnnxImportError(f"{path}: {kind} {v.name!r} has dtype {dtype}; supported: {sorted(DTYPES)}")
        if not tt.HasField("shape"):
            raise OnnxImportError(f"{path}: {kind} {v.name!r} has no shape in the graph; run onnx shape "
                                  "inference on the file, or export it with shapes")
        dims: list[int | str] = []
        for axis, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            else:
                dims.append(d.dim_param or f"{v.name}_d{axis}")
        out.append(TensorSpec(v.name, tuple(dims), dtype))
    return out


def parse_state(pairs: list[str] | None) -> list[StatePair]:
    """``["h0=hn", ...]`` -> state pairs (input name = output name)."""
    out = []
    for item in pairs or []:
        name_in, sep, name_out = item.partition("=")
        if not sep or not name_in.strip() or not name_out.strip():
            raise OnnxImportError(f"--state {item!r}: expected INPUT=OUTPUT (the output fed back as the input)")
        out.append(StatePair(name_in.strip(), name_out.strip()))
    return out


def import_onnx(path: str | os.PathLike[str], out: str | os.PathLike[str],
                state: list[StatePair] | list[str] | None = None, force: bool = False) -> Bundle:
    """Check ``path`` and write it as an ``onnx`` bundle at ``out`` (see the module docstring)."""
    import onnx

    src = Path(path)
    if not src.is_file():
        raise OnnxImportError(f"{src}: no such file")
    try:
        model = onnx.load(str(src), load_external_data=False)
    except Exception as exc:
        raise OnnxImportError(f"{src}: not a readable ONNX file ({type(exc).__name__}: {exc})") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise OnnxImportError(f"{src}: stores weights in external data files; save it as one file first "
                              "(onnx.save(onnx.load(path), out, save_as_external_data=False))")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise OnnxImportError(f"{src}: onnx.checker rejects it: {str(exc).strip()}") from None
    init = {i.name for i in model.graph.initializer}
    inputs = _specs(src, model.graph.input, init, "input")
    outputs = _specs(src, model.graph.output, set(), "output")
    pairs = [p if isinstance(p, StatePair) else parse_state([p])[0] for p in state or []]
    _check_opens(src)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    try:
        manifest = Manifest(
            format="onnx", main="model.onnx", inputs=inputs, outputs=outputs, state=pairs,
            chain=[ChainStep("import-onnx", __version__, {"file": src.name, "state": [f"{p.input}={p.output}"
                                                                                       for p in pairs]},
                             sha256_file(src))],
            metrics={}, extra={"imported_from": src.name, "producer": f"{model.producer_name} {model.producer_version}".strip(),
                               "opsets": opsets},
        )
    except ValueError as exc:
        names = f"inputs {[s.name for s in inputs]}, outputs {[s.name for s in outputs]}"
        raise OnnxImportError(f"{src}: {exc} ({names})") from None
    return save(out, manifest, lambda folder: shutil.copyfile(src, folder / "model.onnx"), force=force)


def _check_opens(src: Path) -> None:
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])
    except ImportError:
        return
    except Exception as exc:
        raise OnnxImportError(f"{src}: onnxruntime cannot open it: {str(exc).strip()}") from None


def bundle_or_onnx(path: str | os.PathLike[str]) -> Bundle:
    """A bundle folder, or an ``.onnx`` file imported into a temporary bundle (removed at exit)."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".onnx":
        tmp = Path(tempfile.mkdtemp(prefix="neuroedge-onnx-"))
        atexit.register(shutil.rmtree, tmp, True)
        return import_onnx(p, tmp / p.stem)
    return load(p)
