"""brevitas quantisation of every Linear/Conv1d/Conv2d (split or not) with one quantiser per scheme.

Weight-only schemes, as in the SplitQuant paper (``q`` integers, ``s`` a per-output-channel scale):

* ``asym-per-channel``: unsigned ``q in [0, 2^b - 1]`` with a zero point ``z``, ``w ~ s (q - z)``,
  ``s = (max - min) / (2^b - 1)`` over each row's range (widened to include 0). Not narrow range:
  INT2 has 4 levels, INT4 16.
* ``sym-per-channel``: signed ``q``, ``w ~ s q``; narrow range at 8 bits (``[-127, 127]``,
  ``s = max|w| / 127``), full range below (``s = max|w| / 2^(b-1)``, so INT2 keeps 4 levels, not ternary).
* ``paper``: ``asym-per-channel`` below 8 bits, ``sym-per-channel`` at 8 bits.
* ``*-mse`` variants (``paper-mse``, ``asym-per-channel-mse``, ``sym-per-channel-mse``): the same grids,
  but brevitas picks each scale (and zero point) to minimise ``||w - Q(w)||^2`` instead of spanning
  min..max, so an outlier is clipped rather than allowed to stretch the grid.
* ``*-awmse`` variants (``paper-awmse``, ``asym-per-channel-awmse``, ``sym-per-channel-awmse``): the same
  grids, with each channel's range chosen to minimise the *activation-weighted* error
  ``sum_j E[u_j^2] (w_j - Q(w_j))^2`` (``u`` the layer's inputs on calibration data, so they need
  ``calibration``); see ``ranges.py``. Still weight-only: the inputs only weigh the weight errors.
* ``*-gptq`` variants (``paper-gptq``, ``asym-per-channel-gptq``, ``sym-per-channel-gptq``): the
  ``*-awmse`` grids, rounded by GPTQ instead of to nearest: layer by layer on the calibration data, each
  rounding error is spread over the weights not yet rounded so the layer's output error stays small
  (a split layer's three parts are rounded together); see ``gptq.py``. Needs ``calibration``.

Bias correction (any scheme, when calibration data is given): each layer's bias is shifted by the mean
of ``(W - Q(W)) x`` over the calibration inputs, so quantisation no longer biases its outputs. (``*-gptq``:
by the mean of ``W x - Q(W) x_q``, ``x_q`` the inputs from the already rounded layers; see ``gptq.py``.)

And with activations:

* ``sym-per-tensor-act8``: per-tensor symmetric ``b``-bit weights, INT8 per-tensor inputs to every
  layer and INT32 biases. The activation scales are calibrated on data (brevitas ``calibration_mode``)
  and the biases then corrected for the mean error of quantisation (``bias_correction_mode``).

The same quantiser is used for split and unsplit models, so a comparison between them is fair.
``layerwise_quantize`` (the default) swaps layers in place, so the model is deep-copied first.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from torch import nn

from neuroedge.converters.splitquant.layers import is_quantisable, require_quantisable

SCHEMES = (
    "paper", "asym-per-channel", "sym-per-channel", "paper-mse", "asym-per-channel-mse", "sym-per-channel-mse",
    "paper-awmse", "asym-per-channel-awmse", "sym-per-channel-awmse", "paper-gptq", "asym-per-channel-gptq",
    "sym-per-channel-gptq", "sym-per-tensor-act8",
)
# Schemes that choose ranges from the layers' inputs on calibration data.
NEEDS_CALIBRATION = ("paper-awmse", "asym-per-channel-awmse", "sym-per-channel-awmse", "paper-gptq",
                     "asym-per-channel-gptq", "sym-per-channel-gptq", "sym-per-tensor-act8")
MIN_BITS, MAX_BITS = 2, 8


def check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"splitquant: bits must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")
    return bits


def resolve_scheme(bits: int, scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"splitquant: unknown scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    if scheme in ("paper", "paper-mse", "paper-awmse", "paper-gptq"):
        return ("sym-per-channel" if bits == 8 else "asym-per-channel") + scheme[len("paper"):]
    return scheme


def weight_quantizer(bits: int, scheme: str) -> type:
    """The brevitas weight quantiser (an injector class) for ``bits`` and a resolved ``scheme``."""
    from brevitas.quant.scaled_int import (
        Int8WeightPerChannelFloat,
        Int8WeightPerChannelFloatMSE,
        Int8WeightPerTensorFloat,
    )
    from brevitas.quant.shifted_scaled_int import (
        ShiftedUint8WeightPerChannelFloat,
        ShiftedUint8WeightPerChannelFloatMSE,
    )

    base = {
        "asym-per-channel": ShiftedUint8WeightPerChannelFloat,
        "asym-per-channel-mse": ShiftedUint8WeightPerChannelFloatMSE,
        "sym-per-channel": Int8WeightPerChannelFloat,
        "sym-per-channel-mse": Int8WeightPerChannelFloatMSE,
        "sym-per-tensor-act8": Int8WeightPerTensorFloat,
    }[scheme.removesuffix("-gptq").removesuffix("-awmse")]  # awmse/gptq: min/max over weights clipped to ranges
    attrs: dict[str, Any] = {"bit_width": bits}
    if not scheme.startswith("asym"):
        attrs["narrow_range"] = bits == 8
    return type(f"Int{bits}{base.__name__}", (base,), attrs)


def layer_map(bits: int, scheme: str) -> dict[type[nn.Module], tuple[type, dict[str, Any]]]:
    """``compute_layer_map`` for brevitas: float layer type -> (quant layer type, its quantisers)."""
    import brevitas.nn as qnn
    from brevitas.quant.scaled_int import Int8ActPerTensorFloat, Int32Bias

    kwargs: dict[str, Any] = {"weight_quant": weight_quantizer(bits, scheme), "return_quant_tensor": False}
    if scheme == "sym-per-tensor-act8":
        kwargs.update(input_quant=Int8ActPerTensorFloat, bias_quant=Int32Bias)
    return {
        nn.Linear: (qnn.QuantLinear, dict(kwargs)),
        nn.Conv1d: (qnn.QuantConv1d, dict(kwargs)),
        nn.Conv2d: (qnn.QuantConv2d, dict(kwargs)),
    }


def _batches(data: torch.Tensor, batch_size: int = 256) -> list[torch.Tensor]:
    return list(torch.as_tensor(data, dtype=torch.float32).split(batch_size))


def calibrate(model: nn.Module, data: torch.Tensor, bias_correction: bool = True) -> None:
    """Calibrate activation scales on ``data`` and then correct the biases (in place, on a quant model)."""
    from brevitas.graph.calibrate import bias_correction_mode, calibration_mode

    model.eval()
    with torch.no_grad():
        with calibration_mode(model):
            for batch in _batches(data):
                model(batch)
        if bias_correction:
            with bias_correction_mode(model):
                for batch in _batches(data):
                    model(batch)


def quantize_weights(
    model: nn.Module,
    bits: int,
    scheme: str = "asym-per-channel",
    *,
    calibration: torch.Tensor | None = None,
    bias_correction: bool = True,
    mode: Literal["layerwise", "graph"] = "layerwise",
) -> nn.Module:
    """A brevitas copy of ``model`` with every Linear/Conv1d/Conv2d quantised; ``model`` is untouched.

    ``scheme`` is one of ``SCHEMES``; ``NEEDS_CALIBRATION`` schemes need ``calibration`` (a batch of inputs).
    Given ``calibration``, activation scales are calibrated on it (act8) and, unless ``bias_correction`` is
    False, each layer's bias absorbs the mean output error its quantised weights cause on it (any scheme).
    Layers brevitas cannot quantise are named in a warning and left in float. ``mode="graph"`` uses
    brevitas' FX graph quantiser, which fails on many transformer models; layerwise is the default.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize_weights needs a torch.nn.Module, got {type(model).__name__}")
    check_bits(bits)
    resolved = resolve_scheme(bits, scheme)
    if scheme in NEEDS_CALIBRATION and calibration is None:
        raise ValueError(f"splitquant: scheme {scheme!r} needs calibration data to set its scales "
                         "(--param calibration=inputs.npy)")
    gptq = resolved.endswith("-gptq")
    if gptq and mode != "layerwise":
        raise ValueError(f"splitquant: scheme {scheme!r} needs mode='layerwise', got mode={mode!r}")
    names, opaque = require_quantisable(model)
    skip = [name for name, _ in opaque]
    qmodel = copy.deepcopy(model).eval()
    if resolved.endswith(("-awmse", "-gptq")):
        from neuroedge.converters.splitquant.layers import get_module
        from neuroedge.converters.splitquant.ranges import clip_to_best_ranges

        layers = {n: get_module(qmodel, n) for n in names}
        clip_to_best_ranges(qmodel, layers, calibration, bits, symmetric=resolved.startswith("sym"))
    cmap = layer_map(bits, resolved)
    if mode == "layerwise":
        from brevitas.graph.quantize import layerwise_quantize

        # layerwise_quantize swaps children only: a bare layer goes in a container and comes back out.
        root = nn.Sequential(qmodel) if is_quantisable(qmodel) else qmodel
        root = layerwise_quantize(root, compute_layer_map=cmap, name_blacklist=skip)
        qmodel = root[0] if root is not qmodel else root
    elif mode == "graph":
        qmodel = _graph_quantize(qmodel, cmap)
    else:
        raise ValueError(f"splitquant: mode must be 'layerwise' or 'graph', got {mode!r}")
    qmodel.eval()
    with torch.no_grad():  # fix every weight scale now (MSE scales are found on first use)
        for layer in quant_layers(qmodel).values():
            layer.quant_weight()
    if gptq:
        from neuroedge.converters.splitquant.gptq import round_model

        round_model(model, qmodel, names, torch.as_tensor(calibration, dtype=torch.float32), bias_correction)
    if calibration is not None:  # gptq corrected its biases itself, against the rounded layers' inputs
        calibrate(qmodel, calibration, bias_correction and not gptq)
    return qmodel


def _graph_quantize(model: nn.Module, cmap: dict) -> nn.Module:
    from brevitas.fx import symbolic_trace
    from brevitas.graph.quantize import quantize

    from neuroedge.converters.splitquant.split import SplitLayer

    if any(isinstance(m, SplitLayer) for m in model.modules()):
        # brevitas' graph quantiser treats the branch sum as a residual add and wants an activation
        # quantiser to align it, which a weight-only scheme does not have.
        raise ValueError("splitquant: mode='graph' does not take split models; use mode='layerwise'")

    try:
        graph = symbolic_trace(model)
    except Exception as exc:  # FX cannot trace data-dependent control flow, common in transformers
        raise ValueError(
            f"splitquant: mode='graph' could not trace the model ({type(exc).__name__}: {exc}); "
            "use mode='layerwise'"
        ) from None
    return quantize(
        graph, compute_layer_map=cmap, quant_act_map={}, quant_identity_map={},
        requantize_layer_handler_output=False,
    )


def quant_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every brevitas weight layer in ``model``, by qualified name."""
    from brevitas.nn.quant_layer import QuantWeightBiasInputOutputLayer

    return {n: m for n, m in model.named_modules() if isinstance(m, QuantWeightBiasInputOutputLayer)}
