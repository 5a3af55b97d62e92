"""Export the converted network to NIR (``nir`` package), for Norse, snnTorch, Sinabs, Rockpool.

The graph is ``input -> [syn_l -> (flatten) -> if_l]* -> output`` in torch's layout (CHW,
cross-correlation kernels), in threshold units: a synapse node carries the fixed-point network's
exact effective weights ``w * 2^weight_exp / vth`` and biases ``(bias_mant << bias_exp) / (vth * 64)``
(see ``layers.QuantLayer``), and each ``IF`` node has r = 1 and v_threshold = 1. NIR's IF resets to
``v_reset``; a reset-by-subtraction network says so in each IF node's metadata
(``{"reset": "subtract"}``), which a NIR consumer must honour to reproduce the rates. The
fixed-point parameters (vth, weight_exp, bias_exp) are kept in each synapse node's metadata.
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np

from neuroedge.converters.snn.layers import QuantLayer


def build_graph(qlayers: list[QuantLayer], input_shape: tuple[int, ...], reset: str = "subtract") -> nir.NIRGraph:
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array(input_shape)})}
    edges: list[tuple[str, str]] = []
    prev = "input"
    prev_shape = tuple(input_shape)
    for q in qlayers:
        meta = {"vth": int(q.vth), "weight_exp": int(q.weight_exp), "bias_exp": int(q.bias_exp)}
        w, b = q.effective_weight(), q.effective_bias()
        if q.kind == "dense" and len(prev_shape) == 3:
            nodes[f"{q.name}_flatten"] = nir.Flatten(input_type={"input": np.array(prev_shape)}, start_dim=0)
            edges.append((prev, f"{q.name}_flatten"))
            prev = f"{q.name}_flatten"
        if q.kind == "conv":
            syn = nir.Conv2d(input_shape=tuple(q.in_shape[1:]), weight=w, stride=tuple(q.stride),
                             padding=tuple(q.padding), dilation=(1, 1), groups=1, bias=b, metadata=meta)
        else:
            syn = nir.Affine(weight=w, bias=b, metadata=meta)
        out_shape = q.out_shape
        nodes[f"{q.name}_syn"] = syn
        nodes[f"{q.name}_if"] = nir.IF(r=np.ones(out_shape), v_threshold=np.ones(out_shape),
                                       v_reset=np.zeros(out_shape), metadata={"reset": reset})
        edges += [(prev, f"{q.name}_syn"), (f"{q.name}_syn", f"{q.name}_if")]
        prev, prev_shape = f"{q.name}_if", out_shape
    nodes["output"] = nir.Output(output_type={"output": np.array(prev_shape)})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def write_nir(qlayers: list[QuantLayer], input_shape: tuple[int, ...], path: Path, reset: str = "subtract") -> None:
    nir.write(str(path), build_graph(qlayers, input_shape, reset))
