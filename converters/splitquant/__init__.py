"""SplitQuant (Song & Lin, 2025) through brevitas: split each layer into three k-means clusters, quantise
each on its own, export QCDQ/QONNX ONNX and packed integer weights.

Python API::

    from neuroedge.converters.splitquant import split_layers, quantize_weights
    split = split_layers(model, seed=0)              # == model before quantisation
    q = quantize_weights(split, bits=2)              # brevitas layers; model and split are untouched
"""

from __future__ import annotations

from neuroedge.converters.splitquant.convert import convert
from neuroedge.converters.splitquant.layers import NoQuantisableLayerError, SplitQuantWarning
from neuroedge.converters.splitquant.params import SplitQuantParams
from neuroedge.converters.splitquant.quantize import SCHEMES, quantize_weights
from neuroedge.converters.splitquant.split import SplitLayer, split_layers
from neuroedge.registry import MODEL, Converter

CONVERTER = Converter("splitquant", SplitQuantParams, convert, reads=MODEL, writes="qcdq-onnx")

__all__ = [
    "CONVERTER", "SCHEMES", "NoQuantisableLayerError", "SplitLayer", "SplitQuantParams", "SplitQuantWarning",
    "convert", "quantize_weights", "split_layers",
]
