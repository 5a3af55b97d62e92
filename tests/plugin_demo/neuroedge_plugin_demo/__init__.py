"""A plugin: the ``npz-affine`` format (``y = x @ W.T + b`` in one .npz), a converter, a target.

The converter folds a chain of ``nn.Linear`` layers with nothing between them into one affine map;
the target runs it in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroedge.bench import BenchConfig, LatencyReport, time_callable
from neuroedge.bundle import Manifest, TensorSpec
from neuroedge.registry import MODEL, Converter, Format, Target, check_inputs, opt


@dataclass(frozen=True)
class AffineExtra:
    n_in: int  # features in
    n_out: int  # features out


@dataclass(frozen=True)
class AffineParams:
    input_shape: tuple[int, ...] = opt((), "with the batch dimension, e.g. 1,4")
    weights: str | None = opt(None, "a state_dict for a factory reference")


def build(source: Any, params: AffineParams, folder: Path) -> Manifest:
    """a chain of nn.Linear layers -> one affine map in an .npz"""
    import torch

    layers = [m for m in source.module.modules() if len(list(m.children())) == 0]
    if not layers or not all(isinstance(m, torch.nn.Linear) for m in layers):
        bad = sorted({type(m).__name__ for m in layers if not isinstance(m, torch.nn.Linear)})
        raise ValueError(f"to-affine folds only nn.Linear chains; this model has {', '.join(bad) or 'no layers'}")
    w = np.eye(layers[0].in_features, dtype=np.float64)
    b = np.zeros(layers[0].in_features)
    for m in layers:
        lw = m.weight.detach().double().numpy()
        lb = m.bias.detach().double().numpy() if m.bias is not None else 0.0
        w, b = lw @ w, lw @ b + lb
    np.savez(folder / "affine.npz", w=w.astype(np.float32), b=b.astype(np.float32))
    n_in, n_out = w.shape[1], w.shape[0]
    return Manifest(format="npz-affine", main="affine.npz", inputs=(TensorSpec("x", ("batch", n_in)),),
                    outputs=(TensorSpec("y", ("batch", n_out)),), extra={"n_in": n_in, "n_out": n_out})


@dataclass(frozen=True)
class AffineOptions:
    dtype: str = opt("float32", "arithmetic precision: float32 or float64")

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")


class AffineRunner:
    target = "numpy-affine"

    def __init__(self, bundle: Any, options: AffineOptions) -> None:
        with np.load(bundle.main_file) as z:
            self.w, self.b = z["w"].astype(options.dtype), z["b"].astype(options.dtype)
        self.inputs, self.outputs, self.options = bundle.manifest.inputs, bundle.manifest.outputs, options

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        (x,) = check_inputs(self.inputs, inputs)
        return [(x.astype(self.options.dtype) @ self.w.T + self.b).astype(np.float32)]

    def benchmark(self, inputs: list[np.ndarray], config: BenchConfig = BenchConfig()) -> LatencyReport:  # noqa: B008
        return time_callable(lambda: self.run(inputs), config, self.target, self.settings())

    def resources(self) -> dict[str, Any]:
        return {"parameters": int(self.w.size + self.b.size)}

    def settings(self) -> dict[str, Any]:
        return {"dtype": self.options.dtype}

    def close(self) -> None:
        pass


def open_runner(bundle: Any, options: AffineOptions) -> AffineRunner:
    """numpy: y = x @ W.T + b"""
    return AffineRunner(bundle, options)


FORMAT = Format("npz-affine", "one affine map y = x @ W.T + b in an .npz", extra=AffineExtra)
CONVERTER = Converter("to-affine", AffineParams, build, reads=MODEL, writes="npz-affine")
TARGET = Target("numpy-affine", ("npz-affine",), open_runner, AffineOptions)
