"""One loader and one convention for calibration (and check) data, for every converter.

The convention, documented once (README "Calibration data"):

* ``--param calibration=FILE``: an ``.npy`` array of model inputs, shape ``[N, ...]`` (rows are
  inputs, the batch dimension first), or an ``.npz`` with ``x`` (that array) and optionally ``y``
  (N integer labels, used for an accuracy check where the converter reports one);
* ``input_shape`` always includes the batch dimension (``1,64``; ``1,1,8,8``). When both are given,
  the data must be ``[N, *input_shape[1:]]``; an ``.npy`` of flat rows for a model with more
  dimensions is reshaped only if the sizes match exactly.

There is no default data set: a converter that needs calibration data says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Calibration:
    x: np.ndarray  # float32 [N, ...]
    y: np.ndarray | None = None  # int64 [N] labels, if the file has them
    path: str = ""


def load_calibration(path: str | Path, input_shape: tuple[int, ...] | None, where: str = "calibration",
                     limit: int | None = None) -> Calibration:
    """Read ``path`` by the convention above; every error names ``where`` and the expected shape."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{where}: {p} does not exist (an .npy of inputs [N, ...], or an .npz with 'x' and 'y')")
    y = None
    try:
        if p.suffix == ".npy":
            x = np.load(p, allow_pickle=False)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if "x" in z.files:
                    x, y = z["x"], (z["y"] if "y" in z.files else None)
                elif len(z.files) == 1:
                    x = z[z.files[0]]
                else:
                    raise ValueError(f"{where}: {p} holds {z.files}; name the inputs 'x' (and the labels 'y')")
        else:
            raise ValueError(f"{where}: {p.name} must be .npy or .npz")
    except (OSError, EOFError) as exc:
        raise ValueError(f"{where}: {p} cannot be read as numpy data ({exc})") from None
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{where}: {p.name} has dtype {x.dtype}, not numeric")
    if x.ndim < 2:
        raise ValueError(f"{where}: {p.name} has shape {list(x.shape)}; expected [N, ...] (one row per input)")
    if input_shape:
        want = tuple(input_shape[1:])
        if tuple(x.shape[1:]) != want:
            if x.ndim == 2 and int(np.prod(want)) == x.shape[1]:
                x = x.reshape((-1, *want))
            else:
                raise ValueError(
                    f"{where}: {p.name} has shape {list(x.shape)}, but the model input is {list(input_shape)} "
                    f"(with the batch dimension): expected [N, {', '.join(map(str, want))}]"
                )
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(x),):
            raise ValueError(f"{where}: {p.name} has {len(x)} inputs 'x' but labels 'y' of shape {list(y.shape)}")
    if limit:
        x, y = x[:limit], (None if y is None else y[:limit])
    return Calibration(np.ascontiguousarray(x, dtype=np.float32), None if y is None else y.astype(np.int64), str(p))
