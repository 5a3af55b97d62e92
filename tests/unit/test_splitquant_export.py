"""The QCDQ export keeps weights constant: no initializer is also a graph input.

brevitas' exporter lists every initializer as a graph input by default; onnxruntime then treats the
weights as values a caller may override, so it neither folds nor pre-packs them, and a merged (plain
float) SplitQuant layer ran slower than plain INT2 QCDQ. These tests pin the fix.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import torch
from torch import nn

from neuroedge.converters.splitquant import quantize_weights, split_layers
from neuroedge.converters.splitquant.export import INPUT_NAME, export_qcdq, initializer_inputs
from neuroedge.converters.splitquant.merge import merge_split


def _quantised() -> tuple[nn.Module, nn.Module, nn.Module]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 5)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split_q = quantize_weights(split_layers(model, seed=0), 2, "paper-mse")
        plain_q = quantize_weights(model, 2, "paper-mse")
    return plain_q, split_q, merge_split(split_q)[0]


def test_qcdq_graph_inputs_are_the_data_input_only(tmp_path) -> None:
    import onnxruntime as ort

    x = torch.rand(6, 2, 8, 8, generator=torch.Generator().manual_seed(1)).numpy()
    for name, m in zip(("plain", "split", "merged"), _quantised(), strict=True):
        path = tmp_path / f"{name}.onnx"
        export_qcdq(m, x, path)
        assert initializer_inputs(path) == [], name
        assert [i.name for i in onnx.load(str(path)).graph.input] == [INPUT_NAME], name
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = sess.run(None, {INPUT_NAME: x})[0]  # the batch axis stays dynamic
        with torch.no_grad():
            want = m(torch.from_numpy(x)).numpy()
        assert got.shape == want.shape
        assert float(np.abs(got - want).max() / np.abs(want).max()) <= 1e-5, name


def test_merged_float_weights_are_folded_by_onnxruntime(tmp_path) -> None:
    """With constant weights onnxruntime rewrites the merged Conv into its pre-packed NCHWc kernel."""
    import onnxruntime as ort

    x = torch.rand(1, 2, 8, 8).numpy()
    path, opt = tmp_path / "merged.onnx", tmp_path / "merged.opt.onnx"
    export_qcdq(_quantised()[2], x, path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.optimized_model_filepath = str(opt)
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    ops = [(n.domain, n.op_type) for n in onnx.load(str(opt)).graph.node]
    assert ("com.microsoft.nchwc", "Conv") in ops, ops
