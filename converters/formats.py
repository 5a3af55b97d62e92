"""The formats the built-in converters write, declared as a plugin's would be (pyproject entry points).

Each ``extra`` dataclass lists the manifest fields another part reads; ``load`` checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuroedge.formats import torch_from_reference
from neuroedge.registry import Format


def _splitquant_torch(bundle: Any) -> Any:
    from neuroedge.converters.splitquant.reference import rebuild_bundle

    return rebuild_bundle(bundle)


@dataclass(frozen=True)
class SNNExtra:
    """What the Loihi targets read from an ``snn-loihi`` manifest."""

    timesteps: int  # the default number of timesteps a target runs
    input_scale: float  # DNN input value that maps to one spike per step
    pipeline_delay: int  # steps until the first input reaches the output (the network depth)
    reset: str = "subtract"
    neuron: str = "lif"


QCDQ = Format("qcdq-onnx", "ONNX with QuantizeLinear/DequantizeLinear (brevitas QCDQ); runs in onnxruntime",
              torch_model=_splitquant_torch)
QONNX = Format("qonnx", "QONNX (Quant nodes); checked with the qonnx executor")
SNN = Format("snn-loihi", "a fixed-point Loihi network (network.json + weights.npz) and its NIR", extra=SNNExtra)
TENSORRT = Format("tensorrt-plan", "a TensorRT engine (tied to its TensorRT version and GPU) and its ONNX")
MCU = Format("mcu-blob", "an INT8 firmware blob (and C array) for the neuroedge microcontroller firmware")
NIR = Format("nir", "a NIR graph (neuromorphic intermediate representation)", torch_model=None)

__all__ = ["MCU", "NIR", "QCDQ", "QONNX", "SNN", "TENSORRT", "SNNExtra", "torch_from_reference"]
