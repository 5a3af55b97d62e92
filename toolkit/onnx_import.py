"""Bring an existing ONNX file in as an ``onnx`` bundle: ``neuroedge import-onnx FILE -o BUNDLE``.

Weights in external data files (``model.onnx.data``, which torch.onnx.export's default exporter
writes) are read in, so the bundle holds one self-contained file. Every input and output keeps its
name, dtype and dynamic dimensions (a named ``dim_param`` keeps its name; an unnamed dynamic
dimension is named ``<tensor>_d<axis>``). Recurrent state is declared as input/output pairs
(``--state h0=hn``); a runner then feeds each call's ``hn`` back as the next call's ``h0``, starting
from zeros. The file is checked with ``onnx.checker`` and must open in
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
from neuroedge.bundle import (
    Bundle,
    ChainStep,
    Manifest,
    StatePair,
    TensorSpec,
    load,
    save,
    sha256_bytes,
    sha256_file,
)
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
    inlined = None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        # torch.onnx.export's default (dynamo) exporter writes the weights beside the file (model.onnx.data):
        # the bundle holds one self-contained file, so the weights are read in and stored inside it.
        inlined = _inline_external_data(src)
        model = onnx.load_from_string(inlined)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise OnnxImportError(f"{src}: onnx.checker rejects it: {str(exc).strip()}") from None
    init = {i.name for i in model.graph.initializer}
    inputs = _specs(src, model.graph.input, init, "input")
    outputs = _specs(src, model.graph.output, set(), "output")
    pairs = [p if isinstance(p, StatePair) else parse_state([p])[0] for p in state or []]
    _check_opens(src, inlined)  # the model the bundle will hold
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    try:
        manifest = Manifest(
            format="onnx", main="model.onnx", inputs=inputs, outputs=outputs, state=pairs,
            chain=[ChainStep("import-onnx", __version__, {"file": src.name, "state": [f"{p.input}={p.output}"
                                                                                       for p in pairs]},
                             sha256_file(src) if inlined is None else sha256_bytes(inlined))],
            metrics={}, extra={"imported_from": src.name, "producer": f"{model.producer_name} {model.producer_version}".strip(),
                               "opsets": opsets},
        )
    except ValueError as exc:
        names = f"inputs {[s.name for s in inputs]}, outputs {[s.name for s in outputs]}"
        raise OnnxImportError(f"{src}: {exc} ({names})") from None
    if inlined is not None:
        return save(out, manifest, lambda folder: (folder / "model.onnx").write_bytes(inlined), force=force)
    return save(out, manifest, lambda folder: shutil.copyfile(src, folder / "model.onnx"), force=force)


def _inline_external_data(src: Path) -> bytes:
    """The model at ``src`` with its external weights read in, as one serialised file (under 2 GB)."""
    import onnx

    try:
        model = onnx.load(str(src), load_external_data=True)  # paths are relative to the file's folder
    except Exception as exc:
        raise OnnxImportError(f"{src}: its weights are in external data files that cannot be read "
                              f"({type(exc).__name__}: {exc}); keep the .data file(s) beside it") from None
    try:
        return model.SerializeToString()
    except ValueError as exc:  # protobuf refuses a message of 2 GB or more
        raise OnnxImportError(f"{src}: with its external weights the model is over ONNX's 2 GB single-file "
                              f"limit, which a bundle needs ({exc})") from None


def _check_opens(src: Path, inlined: bytes | None = None) -> None:
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        ort.InferenceSession(str(src) if inlined is None else inlined, opts, providers=["CPUExecutionProvider"])
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
