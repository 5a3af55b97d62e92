"""Export the converted network to NIR (``nir`` package), for Norse, snnTorch, Sinabs, Rockpool.

The graph is ``input -> [syn_l -> (flatten) -> if_l]* -> output`` in torch's layout (CHW,
cross-correlation kernels), in threshold units: a synapse node carries the fixed-point network's
exact effective weights ``w * 2^weight_exp / vth`` and biases ``(bias_mant << bias_exp) / (vth * 64)``
(see ``layers.QuantLayer``), and each ``IF`` node has r = 1 and v_threshold = 1. NIR's IF resets to
``v_reset``; a reset-by-subtraction network says so in each IF node's metadata
(``{"reset": "subtract"}``), which a NIR consumer must honour to reproduce the rates. The
fixed-point parameters (vth, weight_exp, bias_exp) are kept in each Affine node's metadata.

The file is the subset that nir 1.0.4 (which sinabs 3.1.3 pins) and nir 1.0.8 both read: the graph
is built with the installed nir, then written by ``write_subset`` without the fields 1.0.4 rejects
(``v_reset`` on IF nodes, which 1.0.8 always writes, and ``metadata`` on Conv2d nodes). nir 1.0.4's IF
resets by subtracting the threshold; 1.0.8 reads the missing ``v_reset`` as 0.

What NIR cannot carry, said in a ``NIRExportWarning`` at export and in the README: the starting
voltage (the converter starts every neuron at ``v_init`` = half a threshold; NIR neurons start at
0), the one-step synaptic delay per layer (NIR consumers such as sinabs pass a step through every
layer at once), the readout (spike count plus the output's final voltage), the fixed-point
rounding (the file holds the effective float weights) and, for sigma-delta networks, the neuron
itself: NIR 1.0 has no sigma-delta (delta-encoded ReLU with graded messages) primitive, so no NIR
file is written for them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import h5py
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
                             padding=tuple(q.padding), dilation=(1, 1), groups=1, bias=b)
        else:
            syn = nir.Affine(weight=w, bias=b, metadata=meta)  # (Conv2d gets none: nir 1.0.4 rejects it)
        out_shape = q.out_shape
        nodes[f"{q.name}_syn"] = syn
        nodes[f"{q.name}_if"] = nir.IF(r=np.ones(out_shape), v_threshold=np.ones(out_shape),
                                       v_reset=np.zeros(out_shape), metadata={"reset": reset})
        edges += [(prev, f"{q.name}_syn"), (f"{q.name}_syn", f"{q.name}_if")]
        prev, prev_shape = f"{q.name}_if", out_shape
    nodes["output"] = nir.Output(output_type={"output": np.array(prev_shape)})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


class NIRExportWarning(UserWarning):
    """A setting of the converted network that the NIR file cannot carry."""


# Fields nir 1.0.4 rejects, per node type: dropped by write_subset.
_NOT_IN_104 = {"IF": ("v_reset",), "Conv2d": ("metadata",)}


def write_subset(path: Path, graph: nir.NIRGraph) -> None:
    """Write ``graph`` as nir.write does, minus the fields nir 1.0.4 cannot read (``_NOT_IN_104``)."""

    def put(group: h5py.Group, node: dict[str, Any]) -> None:
        drop = _NOT_IN_104.get(node.get("type", ""), ())
        for k, v in node.items():
            if k in drop or (k == "metadata" and not v):
                continue
            if isinstance(v, str):
                group.create_dataset(k, data=v, dtype=h5py.string_dtype())
            elif isinstance(v, np.ndarray):
                group.create_dataset(k, data=v, dtype=v.dtype, compression="gzip")
            elif isinstance(v, dict):
                put(group.create_group(str(k)), v)
            else:
                group.create_dataset(k, data=v)

    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="1.0.4", dtype=h5py.string_dtype())
        put(f.create_group("node"), graph.to_dict())


def write_nir(qlayers: list[QuantLayer], input_shape: tuple[int, ...], path: Path, reset: str = "subtract",
              v_init: float = 0.5, sd_network: Any = None) -> bool:
    """Write ``model.nir``; returns False (and warns) where NIR cannot hold the network at all."""
    if sd_network is not None:
        warnings.warn("NIR 1.0 has no sigma-delta neuron (delta-encoded ReLU with graded messages): no NIR file "
                      "is written for a sigma-delta network", NIRExportWarning, stacklevel=2)
        return False
    lost = ["the one-step synaptic delay per layer", "the readout (spike count + final voltage)"]
    if v_init:
        lost.insert(0, f"the starting voltage ({v_init:g} of a threshold; NIR neurons start at 0)")
    if reset != "subtract":
        lost.append(f"reset '{reset}' (nir 1.0.4's IF subtracts the threshold)")
    warnings.warn("model.nir cannot carry " + "; ".join(lost), NIRExportWarning, stacklevel=2)
    write_subset(path, build_graph(qlayers, input_shape, reset))
    return True
