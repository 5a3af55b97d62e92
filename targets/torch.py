"""Target ``torch``: the reference. PyTorch eager under ``inference_mode``, in eval mode.

The bundle's format rebuilds the model (``Format.torch_model``, through the registry): an ``onnx``
bundle from ``export-onnx`` runs its ``torch_reference`` (a factory plus a state_dict read with
``weights_only=True``, or TorchScript); a ``qcdq-onnx`` bundle rebuilds the same brevitas
fake-quantised model from its splitquant chain step, so it can be compared with its torch reference.
Thread count as the onnxruntime target chooses it, so the two are compared like for like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroedge.bench import BenchConfig, LatencyReport, time_callable
from neuroedge.bundle import Bundle, BundleError, Manifest
from neuroedge.registry import Target, check_inputs, get_format, opt, requires
from neuroedge.state import CarriedState

available = requires("torch", "pip install torch==2.13.0 (or make setup)")


def load_reference(bundle: Bundle) -> Any:
    """The eager model, rebuilt by the bundle's format (declared through the registry)."""
    fmt = get_format(bundle.format)
    if fmt.torch_model is None:
        raise BundleError(f"{bundle.path}: format {bundle.format!r} declares no way to rebuild a torch model")
    return fmt.torch_model(bundle)


@dataclass(frozen=True)
class TorchOptions:
    threads: int | None = opt(None, "torch threads (default: as the onnxruntime target chooses)")


class TorchRunner:
    target = "torch"

    def __init__(self, model: Any, manifest: Manifest, threads: int = 1) -> None:
        import torch

        self.model = model.eval()
        self.inputs, self.outputs = manifest.data_inputs, manifest.outputs
        self.state = CarriedState(manifest)  # recurrent state pairs, carried as the onnxruntime target does
        self.threads = int(threads)
        torch.set_num_threads(self.threads)

    @classmethod
    def from_bundle(cls, bundle: Bundle, threads: int | None = None) -> TorchRunner:
        if threads is None:
            from neuroedge.targets.onnxruntime import auto_threads, count_parameters

            threads = auto_threads(count_parameters(bundle.main_file))
        return cls(load_reference(bundle), bundle.manifest, threads)

    def _full(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        data = dict(zip((s.name for s in self.inputs), check_inputs(self.inputs, inputs), strict=True))
        return self.state.full_inputs(data)

    def reset_state(self) -> None:
        self.state.reset()

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.model(*[torch.from_numpy(a) for a in self._full(inputs)])
        outs = [o.numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]
        self.state.update(dict(zip((s.name for s in self.outputs), outs, strict=False)))
        return outs

    def bench_call(self, inputs: list[np.ndarray]) -> Any:
        import torch

        tensors = [torch.from_numpy(a) for a in self._full(inputs)]
        model = self.model

        def call() -> None:
            with torch.inference_mode():
                model(*tensors)

        return call

    def benchmark(self, inputs: list[np.ndarray], config: BenchConfig = BenchConfig()) -> LatencyReport:  # noqa: B008
        return time_callable(self.bench_call(inputs), config, target=self.target, settings=self.settings())

    def settings(self) -> dict[str, Any]:
        import torch

        return {"torch": torch.__version__, "mode": "eager, inference_mode, eval", "threads": self.threads}

    def resources(self) -> dict[str, Any]:
        return {"parameters": sum(p.numel() for p in self.model.parameters())}

    def close(self) -> None:
        self.model = None


def open_runner(bundle: Bundle, options: TorchOptions) -> TorchRunner:
    """PyTorch eager (inference_mode) on the CPU: the reference the others are compared with"""
    return TorchRunner.from_bundle(bundle, threads=options.threads)


TARGET = Target("torch", ("onnx", "qcdq-onnx"), open_runner, TorchOptions, available)
