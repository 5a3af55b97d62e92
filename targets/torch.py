"""Target ``torch``: the reference. PyTorch eager under ``inference_mode``, in eval mode.

It runs the model a converter recorded in the bundle's ``extra.torch_reference``: a factory plus
its kwargs and optionally a state_dict (read with ``weights_only=True``), or a TorchScript file.
``export-onnx`` records the original model; ``splitquant`` records a factory that rebuilds the
same brevitas fake-quantised model, so a QCDQ bundle can be compared with its torch reference.
Thread count as the onnxruntime target chooses it, so the two are compared like for like.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from neuroedge.bench import BenchConfig, LatencyReport, time_callable
from neuroedge.bundle import Bundle, BundleError, TensorSpec
from neuroedge.registry import Target, check_inputs


def available() -> Literal[True] | str:
    try:
        import torch  # noqa: F401
    except ImportError:
        return "torch is not installed: pip install torch==2.13.0 (or make setup)"
    return True


def load_reference(bundle: Bundle) -> Any:
    """Rebuild the eager model the bundle was exported from."""
    import torch

    from neuroedge.modelref import import_object, load_state_dict

    ref = bundle.manifest.extra.get("torch_reference")
    where = f"{bundle.path / 'manifest.json'} field 'extra.torch_reference'"
    if not isinstance(ref, dict):
        raise BundleError(f"{where}: missing; the torch target runs bundles whose converter recorded a torch reference (export-onnx, splitquant)")
    if ref.get("kind") == "factory":
        model = import_object(ref["factory"])(**ref.get("kwargs", {}))
        if ref.get("weights"):
            model.load_state_dict(load_state_dict(bundle.file(ref["weights"])))
        return model.eval()
    if ref.get("kind") == "torchscript":
        return torch.jit.load(str(bundle.file(ref["path"])), map_location="cpu").eval()
    raise BundleError(f"{where}: unknown kind {ref.get('kind')!r}")


class TorchRunner:
    target = "torch"

    def __init__(self, model: Any, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...],
                 threads: int = 1) -> None:
        import torch

        self.model = model.eval()
        self.inputs, self.outputs = inputs, outputs
        self.threads = int(threads)
        torch.set_num_threads(self.threads)

    @classmethod
    def from_bundle(cls, bundle: Bundle, threads: int | None = None) -> TorchRunner:
        if threads is None:
            from neuroedge.targets.onnxruntime import auto_threads, count_parameters

            threads = auto_threads(count_parameters(bundle.main_file))
        return cls(load_reference(bundle), bundle.manifest.inputs, bundle.manifest.outputs, threads)

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        arrays = check_inputs(self.inputs, inputs)
        with torch.inference_mode():
            out = self.model(*[torch.from_numpy(a) for a in arrays])
        outs = out if isinstance(out, (tuple, list)) else [out]
        return [o.numpy() for o in outs]

    def bench_call(self, inputs: list[np.ndarray]) -> Any:
        import torch

        tensors = [torch.from_numpy(a) for a in check_inputs(self.inputs, inputs)]
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


def open_runner(bundle: Bundle, options: dict[str, Any]) -> TorchRunner:
    unknown = set(options) - {"threads"}
    if unknown:
        raise ValueError(f"torch: unknown option(s) {sorted(unknown)}; known: threads")
    return TorchRunner.from_bundle(bundle, threads=options.get("threads"))


TARGET = Target(
    name="torch",
    summary="PyTorch eager (inference_mode) on the CPU: the reference the others are compared with",
    formats=("onnx", "qcdq-onnx"),
    available=available,
    open=open_runner,
    bench_resources={"bench": 1},
)
