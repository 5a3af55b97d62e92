"""``to-snn``: a trained ReLU CNN or MLP -> an ``snn-loihi`` bundle (Loihi fixed point) + NIR.

Pipeline: check (every unsupported layer, with its index) -> BN folding and percentile
normalisation on calibration data -> Loihi fixed-point quantisation -> Lava layout. The bundle holds
``network.json`` + ``weights.npz`` (run them with ``snn-fast`` or ``loihi-sim``), ``model.nir`` (the
same network for Norse, snnTorch, Sinabs, Rockpool) and ``conversion.json`` (scales, ranges).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from neuroedge.bundle import Manifest, TensorSpec
from neuroedge.registry import MODEL, Converter

VERSION = "0.1.0"


@dataclass(frozen=True)
class SNNParams:
    calibration: str = ""  # .npy (or .npz with 'x') of DNN inputs, [N, C, H, W] or [N, n]; required
    input_shape: tuple[int, ...] = ()  # optional, with the batch dimension; checked against the calibration data
    weights: str | None = None  # state_dict for a 'module:factory' model reference
    percentile: float = 99.9
    calibration_samples: int = 1000
    timesteps: int = 256  # the default the targets run
    reset: Literal["subtract", "zero"] = "subtract"
    v_init: float = 0.5  # initial membrane, in thresholds (0.5 rounds the rate code instead of flooring)
    pool: Literal["spiking", "fold"] = "spiking"  # AvgPool2d: its own IF layer, or folded into the next layer
    neuron: Literal["lif", "sigma-delta"] = "lif"  # lif: rate-coded binary spikes; sigma-delta: Loihi 2 graded messages
    delta_threshold: float = 0.0  # sigma-delta: send a change once it reaches this fraction of the layer's scale
    bias_correction: bool = True  # sigma-delta: correct each layer's integer bias on the calibration inputs

    def __post_init__(self) -> None:
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile}")
        if self.timesteps < 1:
            raise ValueError("timesteps must be >= 1")
        if self.neuron not in ("lif", "sigma-delta"):
            raise ValueError(f"neuron must be 'lif' or 'sigma-delta', got {self.neuron!r}")
        if not 0 <= self.delta_threshold < 1:
            raise ValueError(f"delta_threshold must be in [0, 1) (a fraction of each layer's scale), "
                             f"got {self.delta_threshold}")


@dataclass
class Conversion:
    """Everything one conversion made, for the API, the report and the benchmark."""

    float_layers: list[Any]
    quant_layers: list[Any]
    network: Any  # neuroedge.snn.network.SNNNetwork
    input_scale: float
    input_shape: tuple[int, ...]


def convert_model(model: Any, calibration: np.ndarray, percentile: float = 99.9,
                  reset: str = "subtract", v_init: float = 0.5, pool: str = "spiking",
                  neuron: str = "lif", delta_threshold: float = 0.0, bias_correction: bool = True) -> Conversion:
    """Convert an nn.Module with calibration inputs (N, ...) to a fixed-point SNN (no files).
    ``bias_correction``: sigma-delta only (``converters/snn/sd_bias.py``)."""
    from neuroedge.converters.snn.fixed_point import quantise, to_network
    from neuroedge.converters.snn.normalize import extract_layers, normalise

    calib = np.asarray(calibration, dtype=np.float32)
    input_shape = tuple(int(d) for d in calib.shape[1:])
    stages = extract_layers(model.eval(), input_shape, pool)
    float_layers, input_scale = normalise(stages, calib, percentile)
    qlayers = quantise(float_layers)
    meta = {"layer_scales": [fl.scale for fl in float_layers], "sources": [fl.source for fl in float_layers]}
    if neuron == "sigma-delta":
        from neuroedge.converters.snn.sigma_delta import to_sd_network

        net = to_sd_network(float_layers, input_shape, input_scale, delta_threshold, meta)
        if bias_correction:
            from neuroedge.converters.snn.sd_bias import bias_corrected

            net, _ = bias_corrected(net, float_layers, calib, input_scale)
    else:
        net = to_network(qlayers, input_shape, input_scale, float_layers[-1].scale, reset, meta, v_init)
    return Conversion(float_layers, qlayers, net, input_scale, input_shape)


def convert(source: Any, params: SNNParams, folder: Path) -> Manifest:
    """ReLU CNN/MLP -> Loihi fixed-point SNN (percentile normalisation, reset-by-subtraction) + NIR"""
    from neuroedge.converters.snn.nir_export import write_nir
    from neuroedge.snn.network import save_network
    from neuroedge.snn.resources import core_report

    if source.calibration is None:
        raise ValueError("to-snn needs calibration inputs: --param calibration=inputs.npy "
                         "(an array of DNN inputs, [N, C, H, W] or [N, n]; or an .npz with 'x')")
    conv = convert_model(source.module, source.calibration.x, params.percentile, params.reset, params.v_init,
                         params.pool, params.neuron, params.delta_threshold, params.bias_correction)
    sd = params.neuron == "sigma-delta"
    cores = core_report(conv.network)
    info = {
        "input_scale": conv.input_scale,
        "layers": [{"name": q.name, "kind": q.kind, "source": fl.source, "scale": fl.scale, "vth": q.vth,
                    "weight_exp": q.weight_exp, "bias_exp": q.bias_exp, "out_shape": list(q.out_shape)}
                   for fl, q in zip(conv.float_layers, conv.quant_layers, strict=True)],
        "cores": cores,
    }
    save_network(conv.network, folder)
    has_nir = write_nir(conv.quant_layers, conv.input_shape, folder / "model.nir", params.reset, params.v_init,
                        conv.network if sd else None)
    (folder / "conversion.json").write_text(json.dumps(info, indent=2) + "\n")
    return Manifest(
        format="snn-loihi", main="network.json",
        inputs=(TensorSpec("x", ("batch",) + conv.input_shape, "float32"),),
        outputs=(TensorSpec("scores", ("batch", conv.network.n_outputs), "float32"),),
        metrics={"loihi1_cores": cores["loihi1_cores"], "loihi2_cores": cores["loihi2_cores"]},
        extra={"timesteps": 1 if sd else params.timesteps, "reset": params.reset, "input_scale": conv.input_scale,
               "encoding": ("frame stream, one frame per step, delta-encoded graded messages "
                            "(see neuroedge.targets.loihi.fast_sd)") if sd else
                           "deterministic rate coding, binary spikes (see neuroedge.snn.encoding)",
               "pipeline_delay": conv.network.depth, "nir": "model.nir" if has_nir else None,
               "neuron": params.neuron},
    )


CONVERTER = Converter("to-snn", SNNParams, convert, reads=MODEL, writes="snn-loihi", version=VERSION)
