"""Where each tensor's batch axis is, for ``export-onnx``, and the check that the exported file batches.

Axis 0 is the batch of most tensors, but not of all: a ``nn.GRU``/``nn.LSTM`` state is ``(layers, batch,
hidden)`` and a time-major sequence ``(time, batch, features)``. Naming axis 0 "batch" there made the
layer count (or the time) dynamic and the real batch fixed, and told every consumer of the manifest
(the runners' carried state, TensorRT's profiles) the wrong axis. So the axis is declared per tensor
(``batch_axes="h=1;h_out=1"``, ``NAME=none`` for a tensor without one), and the export is then run at a
batch of ``CHECK_BATCH`` in torch and in onnxruntime and compared: a wrong declaration, or a batch size
that the trace baked into a ``Reshape``, fails there with the reason instead of giving a file that is
wrong at any batch but the traced one.
"""

from __future__ import annotations

from typing import Any

CHECK_BATCH = 3  # not 1 or 2: a baked 1, or a layer count of 2, cannot pass by coincidence


def check_batch(traced: int | None) -> int:
    """The batch the check runs at: ``CHECK_BATCH``, or 5 if the model was traced at 3."""
    return CHECK_BATCH if traced != CHECK_BATCH else CHECK_BATCH + 2


def parse_batch_axes(text: str) -> dict[str, int | None]:
    """``"h=1;h_out=1;t=none"`` -> ``{"h": 1, "h_out": 1, "t": None}``."""
    out: dict[str, int | None] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, axis = (s.strip() for s in part.partition("="))
        if not sep or not name:
            raise ValueError(f"batch_axes {part!r}: expected NAME=AXIS or NAME=none (e.g. h=1;h_out=1)")
        if axis.lower() == "none":
            out[name] = None
            continue
        try:
            out[name] = int(axis)
        except ValueError:
            raise ValueError(f"batch_axes {part!r}: the axis must be an integer >= 0 or 'none'") from None
        if out[name] < 0:
            raise ValueError(f"batch_axes {part!r}: the axis must be an integer >= 0 or 'none'")
    return out


def input_axes(declared: dict[str, int | None], shapes: dict[str, tuple[int, ...]],
               outputs: list[str]) -> dict[str, int | None]:
    """Each input's batch axis: as declared, else 0 (None for a 0-d input). Names and axes are checked;
    an output may be declared too (``output_axes`` checks it)."""
    unknown = sorted(set(declared) - set(shapes) - set(outputs))
    if unknown:
        raise ValueError(f"batch_axes names {', '.join(map(repr, unknown))}, which are not inputs or outputs of "
                         f"the model (those are {', '.join([*shapes, *outputs])})")
    out: dict[str, int | None] = {}
    for name, shape in shapes.items():
        axis = declared.get(name, 0 if shape else None)
        if axis is not None and axis >= len(shape):
            raise ValueError(f"batch_axes {name}={axis}: input {name!r} has only {len(shape)} axes {list(shape)}")
        out[name] = axis
    return out


def output_axes(small: list[Any], big: list[Any], names: list[str], declared: dict[str, int | None],
                in_axes: str, batch: int) -> dict[str, int | None]:
    """Each output's batch axis, measured: the one axis that changed from the traced batch to ``batch``
    (none if no axis did); a declared one must be that axis."""
    out: dict[str, int | None] = {}
    for name, s, b in zip(names, small, big, strict=True):
        grew = [i for i, (x, y) in enumerate(zip(s.shape, b.shape, strict=True)) if x != y] if s.ndim == b.ndim else None
        if grew is None or len(grew) > 1:
            raise ValueError(f"output {name!r} is {list(s.shape)} at the traced batch and {list(b.shape)} at a batch "
                             f"of {batch} (inputs' batch axes: {in_axes}): more than its batch axis changed")
        axis = grew[0] if grew else None
        if name in declared and declared[name] != axis:
            raise ValueError(f"batch_axes {name}={declared[name]}, but output {name!r} is {list(s.shape)} at the "
                             f"traced batch and {list(b.shape)} at a batch of {batch} (inputs' batch axes: "
                             f"{in_axes})")
        out[name] = axis
    return out


def suggest(model: Any, xs: list[Any], names: list[str], axes: dict[str, int | None], seed: int,
            fixed: set[str], batch: int) -> dict[str, int | None] | None:
    """Batch axes under which the model runs at ``batch``, found by trying, for each input not in
    ``fixed``, every axis as long as the first input's batch axis (at most 64 combinations); None if no
    single combination runs."""
    import itertools

    import torch

    first = names[0]
    size = xs[0].shape[axes[first]] if axes[first] is not None else None
    options = [[axes[n]] if n in fixed or n == first or size is None else
               [i for i, d in enumerate(x.shape) if d == size] + [None] for n, x in zip(names, xs, strict=True)]
    found = []
    for combo in itertools.islice(itertools.product(*options), 64):
        trial = dict(zip(names, combo, strict=True))
        if trial == axes:
            continue
        with torch.inference_mode():
            try:
                model(*rebatched(xs, names, trial, seed, batch))
            except Exception:  # noqa: BLE001 - any failure rules the combination out
                continue
        found.append(trial)
    return found[0] if len(found) == 1 else None


def describe(axes: dict[str, int | None]) -> str:
    return ", ".join(f"{n}: {'none' if a is None else f'axis {a}'}" for n, a in axes.items())


def rebatched(xs: list[Any], names: list[str], axes: dict[str, int | None], seed: int, batch: int) -> list[Any]:
    """Fresh check inputs with every batch axis at ``batch`` (same dtypes and value ranges)."""
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    out = []
    for x, name in zip(xs, names, strict=True):
        shape = list(x.shape)
        if axes[name] is not None:
            shape[axes[name]] = batch
        out.append(torch.rand(shape, generator=gen) if x.dtype == torch.float32 else
                   torch.randint(0, 2, shape, generator=gen, dtype=x.dtype))
    return out
