"""What the firmware can run: every refusal says why and what to do, before any quantisation work.

* a model quantised for weights only, or already quantised in another scheme (full-integer needs the
  float model and calibration);
* a layer the firmware has no kernel for (an LSTM, a Sigmoid, ...): every one is listed, by index and name;
* calibration inputs of the wrong shape for the model's first layer (the expected shape is named);
* a model that does not fit the firmware build: blob, arena, payload and layer count against
  ``neuroedge.firmware_bridge.limits`` (the numbers, and the setting that changes each).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroedge.firmware_bridge.blob import Model
from neuroedge.firmware_bridge.limits import FirmwareLimits, fit_problems

FULL_INT_COMMAND = (
    "neuroedge convert mcu <float model, e.g. examples.digits.models:digits_mlp> "
    "--param weights=<state_dict.pt> --param calibration=<inputs.npz> -o <out>"
)
SUPPORTED = ("Linear, Conv2d, depthwise Conv2d, BatchNorm1d after Linear, BatchNorm2d, ReLU, ReLU6, MaxPool2d, AvgPool2d, "
             "AdaptiveAvgPool2d(1), Flatten, Dropout, Identity")


class ConversionError(ValueError):
    """The model cannot become a full-integer firmware model; the message says why and what to do."""


def leaves(model: Any) -> list[tuple[str, Any]]:
    """The modules without children, with their names, in registration order (the chain's order)."""
    return [(name, m) for name, m in model.named_modules() if not list(m.children())]


def check_layers(model: Any) -> None:
    """Refuse, in one message listing each, every leaf module the firmware has no kernel for."""
    from torch import nn

    ok = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.MaxPool2d, nn.AvgPool2d,
          nn.AdaptiveAvgPool2d, nn.Flatten, nn.Dropout, nn.Identity)
    bad = [f"  {i}: {name or '(model)'} {type(m).__name__}" for i, (name, m) in enumerate(leaves(model))
           if not isinstance(m, ok)]
    if bad:
        raise ConversionError("layers not supported by the mcu firmware:\n" + "\n".join(bad)
                              + f"\nsupported: {SUPPORTED}, in a plain chain")


def expected_sample_shape(model: Any) -> tuple[int | None, ...] | None:
    """What one input must look like for the first weighted layer (None: a size it does not fix)."""
    from torch import nn

    for _, m in leaves(model):
        if isinstance(m, nn.Linear):
            return (m.in_features,)
        if isinstance(m, nn.Conv2d):
            return (m.in_channels, None, None)
        if isinstance(m, nn.Flatten):
            return None  # a flatten first: any shape whose size the next Linear checks
    return None


def check_input_shape(model: Any, x: np.ndarray, where: str = "calibration") -> None:
    """Refuse calibration inputs that cannot feed the model, naming the shape it expects."""
    want = expected_sample_shape(model)
    if want is None:
        return
    got = tuple(x.shape[1:])
    if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got, strict=True)):
        shown = ", ".join("H" if w is None and i == 1 else "W" if w is None else str(w) for i, w in enumerate(want))
        raise ConversionError(
            f"{where}: inputs of shape {list(x.shape)}, but the model's first layer takes [N, {shown}] "
            f"(give an .npy/.npz of that shape, or input_shape=1,{shown.replace(' ', '')})")


def check_full_integer_possible(model: Any) -> None:
    """Refuse a model already quantised for weights only, or in a scheme the converter does not import."""
    names = [type(m).__module__ + "." + type(m).__name__ for m in model.modules()]
    if any(".quantized.dynamic." in n for n in names):
        raise ConversionError(
            "refused: this model is dynamically quantised (INT8 weights, float activations), which a "
            "microcontroller cannot run as INT8. Make a full-integer model from the float model with: "
            + FULL_INT_COMMAND
        )
    brevitas = [n for n in names if n.startswith("brevitas.")]
    if brevitas:
        act = [
            m
            for m in model.modules()
            if type(m).__name__ in ("QuantReLU", "QuantIdentity", "QuantHardTanh")
            or getattr(getattr(m, "input_quant", None), "is_quant_enabled", False)
            or getattr(getattr(m, "output_quant", None), "is_quant_enabled", False)
        ]
        if not act:
            raise ConversionError(
                "refused: this brevitas model quantises weights only; its activations are float, so there "
                "are no calibrated activation scales for INT8 firmware. Make a full-integer model with: "
                + FULL_INT_COMMAND
            )
        raise ConversionError(
            "brevitas models with activation quantisers are not imported by the mcu converter yet; "
            "convert the float model instead: " + FULL_INT_COMMAND
        )
    if any(".quantized." in n and ".dynamic." not in n for n in names):
        raise ConversionError(
            "torch eager-mode int8 modules are not imported yet; give the float model and let the mcu "
            "converter calibrate it: " + FULL_INT_COMMAND
        )


def check_fits(model: Model, blob: bytes, limits: FirmwareLimits) -> None:
    """Refuse a model the firmware build ``limits`` cannot hold or answer, with each limit it exceeds."""
    problems = fit_problems(limits, len(blob), model.arena_bytes, model.in_size, model.out_size,
                            len(model.layers), name=f"the {limits.platform} firmware")
    if problems:
        raise ConversionError(f"the model does not fit the {limits.platform} firmware "
                              "(param firmware=lm3s6965|host picks the build checked):\n  " + "\n  ".join(problems))
