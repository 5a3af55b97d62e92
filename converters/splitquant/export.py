"""Export a brevitas model to QCDQ ONNX (runs in onnxruntime) and QONNX (checked with qonnx's executor).

Each export is checked against the brevitas model in torch on the same inputs, and the largest
absolute difference is returned, so a bundle records how far its file is from the model it came from.

Weights are stored as constant initializers, never also listed as graph inputs. brevitas' exporter
defaults to ``keep_initializers_as_inputs=True``; onnxruntime then treats every weight as one a caller
may override at run time, so it cannot constant-fold it or pre-pack it: a float Conv keeps its generic
kernel instead of the NCHWc one and a float MatMul repacks its weight on every call. That made the
merged SplitQuant layers (plain float weights) run slower than plain INT2 QCDQ on the gesture CNN
(1.19x) and the transformer (1.32x); with constant initializers they are not slower.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

INPUT_NAME, OUTPUT_NAME = "input", "output"
OPSET = 17


def _torch_outputs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).detach().cpu().numpy()


def _export_kwargs() -> dict:
    # dynamo=False: the dynamo exporter fails on quantised biases (Int32Bias).
    return {
        "input_names": [INPUT_NAME],
        "output_names": [OUTPUT_NAME],
        "dynamic_axes": {INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
        "opset_version": OPSET,
        "dynamo": False,
    }


def initializer_inputs(path: Path) -> list[str]:
    """The graph inputs of an ONNX file that are also initializers (weights a caller could override)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names = {t.name for t in graph.initializer}
    return [i.name for i in graph.input if i.name in names]


def _drop_initializer_inputs(path: Path) -> None:
    """Remove every initializer from the graph's inputs, so onnxruntime may fold and pre-pack it."""
    import onnx

    model = onnx.load(str(path))
    names = {t.name for t in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name not in names]
    if len(keep) != len(model.graph.input):
        del model.graph.input[:]
        model.graph.input.extend(keep)
        onnx.save(model, str(path))


def export_qcdq(model: nn.Module, example: np.ndarray, path: Path) -> None:
    """QuantizeLinear/Clip/DequantizeLinear ONNX of ``model`` at ``path``; batch axis dynamic; weights
    are constant initializers (not graph inputs: see the module docstring)."""
    from brevitas.export import export_onnx_qcdq

    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx_qcdq(model, args=torch.from_numpy(example[:1]), export_path=str(path),
                         keep_initializers_as_inputs=False, **_export_kwargs())
    _drop_initializer_inputs(path)  # whatever the exporter's version does with the flag


def check_qcdq(model: nn.Module, path: Path, x: np.ndarray, optimize: bool = True) -> float:
    """Max |onnxruntime(path)(x) - model(x)|.

    ``optimize=True`` uses onnxruntime's default (all graph optimisations), as a deployment would. Its
    QDQ transformations rewrite DequantizeLinear + MatMul into fused integer kernels that also quantise
    the activations, so on the transformer the outputs move by 1e-3 (INT8) to 5e-2 (INT2) logits;
    the session option ``session.disable_quant_qdq=1`` removes that. ``optimize=False`` (basic level)
    checks the graph itself, to ~1e-6.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
    return float(np.abs(got - _torch_outputs(model, x)).max())


def export_qonnx(model: nn.Module, example: np.ndarray, path: Path) -> None:
    """QONNX (``Quant`` nodes of any bit width) of ``model`` at ``path``, cleaned up by qonnx."""
    from brevitas.export import export_qonnx as _export
    from qonnx.util.cleanup import cleanup

    kwargs = _export_kwargs()
    kwargs.pop("dynamic_axes")  # qonnx's executor wants static shapes
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _export(model, args=torch.from_numpy(example[:1]), export_path=str(path), **kwargs)
        cleanup(str(path), out_file=str(path))


def check_qonnx(model: nn.Module, path: Path, x: np.ndarray) -> float:
    """Max |qonnx executor(path)(x_i) - model(x_i)| over the rows of ``x`` (one at a time: static batch 1).

    onnxruntime cannot run ``Quant`` nodes, so qonnx's own (numpy) executor runs the graph.
    """
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    wrapper = ModelWrapper(str(path))
    in_name, out_name = wrapper.graph.input[0].name, wrapper.graph.output[0].name
    want = _torch_outputs(model, x)
    err = 0.0
    for i in range(len(x)):
        got = execute_onnx(wrapper, {in_name: x[i : i + 1].astype(np.float32)})[out_name]
        err = max(err, float(np.abs(got - want[i : i + 1]).max()))
    return err
