"""Calibration: the data that chooses the int8 scales, and the float ranges observed on it.

Activations are asymmetric per tensor from the calibration min/max (widened to contain 0):
``s = (max - min) / 255``, ``zp = round(-128 - min / s)``. The data comes from the registry's one
loader (``source.calibration``); it is required, since the scales are only as good as the inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .check import ConversionError


def calibration_data(source: Any, samples: int, check: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(calibration inputs, check inputs, check labels): the check set is ``check`` or the calibration data."""
    if source.calibration is None:
        raise ConversionError("mcu needs calibration inputs to choose the int8 scales: --param calibration=x.npy "
                              "(model inputs [N, ...]) or an .npz with 'x' (and labels 'y' for an accuracy check), "
                              "e.g. the one neuroedge.data.digits.save_split(folder) writes")
    cal = source.calibration
    if not check:
        return cal.x[:samples], cal.x, cal.y
    from neuroedge.data.calibration import load_calibration

    held_out = load_calibration(check, source.input_shape or (1, *cal.x.shape[1:]), where="mcu param 'check'")
    return cal.x[:samples], held_out.x, held_out.y


def act_qparams(lo: float, hi: float) -> tuple[float, int]:
    """(scale, zero point) of an int8 tensor holding [lo, hi] (widened to contain 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0 or 1e-8
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zp


def float_forward(op: Any, h: np.ndarray, shape_chw: tuple[int, ...]) -> np.ndarray:
    """Float reference of one op on NCHW / flat data (what calibration observes)."""
    import torch

    t = torch.from_numpy(h)
    with torch.inference_mode():
        if op.kind == "dense":
            y = t.reshape(t.shape[0], -1) @ torch.from_numpy(op.weight).T
            y = y + (torch.from_numpy(op.bias) if op.bias is not None else 0)
        elif op.kind in ("conv", "dwconv"):
            m = op.module
            y = torch.nn.functional.conv2d(
                t,
                torch.from_numpy(op.weight),
                None if op.bias is None else torch.from_numpy(op.bias),
                m.stride,
                m.padding,
                1,
                m.groups,
            )
        elif op.kind == "relu":
            y = t
        else:
            y = op.module.double()(t)
        if op.relu_max is not None:
            y = y.clamp(0, op.relu_max)
    return y.numpy()
