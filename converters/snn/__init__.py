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
from neuroedge.converters.snn.check import UnsupportedModelError
from neuroedge.converting import require_eager
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
    try:
        stages = extract_layers(model.eval(), input_shape, pool)
    except (ValueError, RuntimeError) as exc:
        if isinstance(exc, UnsupportedModelError):
            raise
        raise ValueError(f"to-snn: the layers read from the model do not fit one after another on inputs "
                         f"{list(input_shape)} ({exc}); {_CHAIN_HINT}") from None
    check_stages_reproduce(model, stages, calib)
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


_CHAIN_HINT = ("its forward() does something the chain of layers does not show: a reshape that is not a flatten, "
               "padding='same' with an even kernel, an operation between layers")


class ReLU6ClipWarning(UserWarning):
    """ReLU6 clips activations above 6 on the calibration data; the SNN runs ReLU."""


def _stages_out(stages: list[dict[str, Any]], x: np.ndarray, cap: float | None) -> Any:
    import torch

    from neuroedge.converters.snn.normalize import stage_forward

    a = torch.from_numpy(x)
    for i, st in enumerate(stages):
        a = stage_forward(st, a, relu=i < len(stages) - 1)
        if cap is not None and i < len(stages) - 1:
            a = a.clamp_max(cap)
    return a.reshape(len(x), -1)


def check_stages_reproduce(model: Any, stages: list[dict[str, Any]], calib: np.ndarray, n: int = 64) -> None:
    """Refuse unless the layers read from ``model`` compute its outputs on calibration inputs.

    The layer chain is read from the modules and the traced graph; this makes sure it is the model
    (else the SNN would approximate another network, silently). ReLU6 runs as ReLU (check.py): where
    it clips on these inputs, the chain matches only with the clipping, and that is a warning.
    """
    import warnings

    import torch

    x = np.asarray(calib[:n], dtype=np.float64)
    with torch.inference_mode():
        want = model(torch.from_numpy(x).float()).double().reshape(len(x), -1)
        try:
            got, got6 = _stages_out(stages, x, None), _stages_out(stages, x, 6.0)
        except RuntimeError as exc:
            raise ValueError(f"to-snn: the layers read from the model do not fit one after another ({exc}); "
                             f"{_CHAIN_HINT}") from None

    def err(g: Any) -> float:  # a ReLU (or ReLU6) after the last layer keeps the argmax the SNN reads out linearly
        return min(float((h - want).abs().max()) for h in (g, g.clamp_min(0), g.clamp(0, 6))) \
            if g.shape == want.shape else float("inf")

    bound = 1e-3 * float(want.abs().max()) + 1e-5  # float32 model vs float64 stages: ~1e-6 relative
    if err(got) <= bound:
        return
    has_relu6 = any(isinstance(m, torch.nn.ReLU6) for m in model.modules())
    if has_relu6 and err(got6) <= bound:
        warnings.warn(f"to-snn: ReLU6 clips activations above 6 on the calibration inputs (outputs move by up to "
                      f"{err(got):.3g}); the SNN runs ReLU, so it approximates the unclipped network",
                      ReLU6ClipWarning, stacklevel=2)
        return
    raise ValueError(f"to-snn: the layers read from the model do not compute its outputs on the calibration "
                     f"inputs (max |diff| {err(got):.3g} > {bound:.3g}; shapes {list(got.shape)} vs "
                     f"{list(want.shape)}); {_CHAIN_HINT}")


def convert(source: Any, params: SNNParams, folder: Path) -> Manifest:
    """ReLU CNN/MLP -> Loihi fixed-point SNN (percentile normalisation, reset-by-subtraction) + NIR"""
    from neuroedge.converters.snn.nir_export import write_nir
    from neuroedge.snn.network import save_network
    from neuroedge.snn.resources import core_report

    require_eager(source, "to-snn")
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
