"""Calibration (and check) data for the converter: an ``.npy`` of inputs, or an ``.npz`` with ``x`` (and ``y``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_calibration(
    path: str | Path, input_shape: tuple[int, ...] | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, y)`` from ``path``; ``x`` must be ``[N, *input_shape[1:]]`` (``y`` is optional labels).

    With ``input_shape`` None, any ``x`` of at least 2 dims is taken (its batch dim first).

    An ``.npz`` holds ``x`` (or a single array) and optionally ``y``.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"splitquant: calibration file {p} does not exist")
    y = None
    if p.suffix == ".npy":
        x = np.load(p, allow_pickle=False)
    elif p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            if "x" in z.files:
                x = z["x"]
                y = z["y"] if "y" in z.files else None
            elif len(z.files) == 1:
                x = z[z.files[0]]
            else:
                raise ValueError(f"splitquant: {p} holds {z.files}; name the inputs 'x' (and labels 'y')")
    else:
        raise ValueError(f"splitquant: calibration data must be .npy or .npz, got {p.name}")
    if input_shape is None:
        if x.ndim < 2:
            raise ValueError(f"splitquant: calibration data {p.name} has shape {list(x.shape)}; expected [N, ...]")
        input_shape = (1, *x.shape[1:])
    want = tuple(input_shape[1:])
    if x.ndim != len(input_shape) or tuple(x.shape[1:]) != want:
        raise ValueError(
            f"splitquant: calibration data {p.name} has shape {list(x.shape)}, but the model input is "
            f"{list(input_shape)}: expected [N, {', '.join(map(str, want))}]"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"splitquant: calibration data {p.name} has dtype {x.dtype}, not numeric")
    if y is not None and len(y) != len(x):
        raise ValueError(f"splitquant: {p.name} has {len(x)} inputs 'x' but {len(y)} labels 'y'")
    return x.astype(np.float32), y
