"""A tiny MatMul ONNX with brevitas-style Q/DQ, for the TensorRT tests (no GPU needed to build it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def qdq_matmul(path: Path, weight_bits: int | None, act_bits: int | None, n_in: int = 4, n_out: int = 3,
               names: tuple[str, str] = ("x", "y")) -> Path:
    """``x[batch,n_in] -> (optional activation Q/DQ) -> MatMul(W[n_in,n_out], optional Q/DQ) -> y``.

    A ``bits`` below 8 is expressed as brevitas' QCDQ does: QuantizeLinear to int8, Clip to the narrow
    range, DequantizeLinear. The model passes ``onnx.checker`` and is saved to ``path``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], [numpy_helper.from_array(np.ones((n_in, n_out), np.float32), "W"),
                        numpy_helper.from_array(np.array(0.1, np.float32), "s"),
                        numpy_helper.from_array(np.array(0, np.int8), "z")]

    def qcdq(src: str, dst: str, bits: int) -> None:
        nodes.append(helper.make_node("QuantizeLinear", [src, "s", "z"], [f"{dst}_q"]))
        last = f"{dst}_q"
        if bits < 8:
            lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
            inits.extend([numpy_helper.from_array(np.array(lo, np.int8), f"{dst}_lo"),
                          numpy_helper.from_array(np.array(hi, np.int8), f"{dst}_hi")])
            nodes.append(helper.make_node("Clip", [last, f"{dst}_lo", f"{dst}_hi"], [f"{dst}_c"]))
            last = f"{dst}_c"
        nodes.append(helper.make_node("DequantizeLinear", [last, "s", "z"], [dst]))

    x_name, y_name = names
    x, w = x_name, "W"
    if act_bits is not None:
        qcdq(x_name, "xq", act_bits)
        x = "xq"
    if weight_bits is not None:
        qcdq("W", "Wq", weight_bits)
        w = "Wq"
    nodes.append(helper.make_node("MatMul", [x, w], [y_name]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(x_name, TensorProto.FLOAT, ["batch", n_in])],
                              [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, ["batch", n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
