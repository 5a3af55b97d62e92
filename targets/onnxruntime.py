"""Target ``onnxruntime``: the CPU runtime, tuned for batch-1 latency as ORT's perf test would be.

Settings (recorded in every benchmark's JSON):

* full graph optimisation (``ORT_ENABLE_ALL``), sequential execution, one inter-op thread;
* intra-op threads: 1 for small models (thread hand-off costs more than a tiny kernel gains),
  the physical cores for large ones; ``threads=N`` overrides;
* ``disable_quant_qdq=true`` keeps Q/DQ pairs as exported: by default ORT's full optimisation fuses
  DequantizeLinear + MatMul into MatMulNBits, which runs activations in int8 and moves an INT2
  transformer's logits by up to 0.05 against brevitas (the splitquant bundle records both errors);
* the benchmark loop uses IO binding with the input and a preallocated output bound once, so each
  timed call is exactly ``run_with_iobinding``: no feed dict, no output allocation.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroedge.bench import BenchConfig, LatencyReport, time_callable
from neuroedge.bundle import Bundle, TensorSpec
from neuroedge.registry import Target, check_inputs, opt, requires
from neuroedge.state import CarriedState

# Below this many parameters a model counts as small: one intra-op thread is fastest (measured
# on the example MLP/CNN here: 1 thread beat 2 by 30-60% at batch 1).
SMALL_MODEL_PARAMS = 2_000_000


@dataclass(frozen=True)
class OrtOptions:
    threads: int | None = opt(None, "intra-op threads (default: 1 below 2M parameters, else the physical cores)")
    disable_quant_qdq: bool = opt(False, "keep Q/DQ pairs as exported (no MatMulNBits fusion)")

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


available = requires("onnxruntime", "pip install onnxruntime (or make setup)")


def count_parameters(onnx_path: Path) -> int:
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    return int(sum(int(np.prod(t.dims)) for t in m.graph.initializer))


def auto_threads(n_params: int) -> int:
    return 1 if n_params < SMALL_MODEL_PARAMS else max(1, (os.cpu_count() or 2) // 2)


def session_options(threads: int, disable_quant_qdq: bool = False) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if disable_quant_qdq:
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts


def bind_for_benchmark(session: Any, inputs: list[np.ndarray]) -> tuple[Any, list[np.ndarray]]:
    """IO binding with every input and a preallocated output bound once, reused for each call."""
    import onnxruntime as ort

    binding = session.io_binding()
    for meta, arr in zip(session.get_inputs(), inputs, strict=True):
        binding.bind_cpu_input(meta.name, arr)
    # One run tells the output shapes; then bind preallocated buffers so no call allocates.
    outs = session.run(None, {m.name: a for m, a in zip(session.get_inputs(), inputs, strict=True)})
    buffers = [np.empty_like(o) for o in outs]
    for meta, buf in zip(session.get_outputs(), buffers, strict=True):
        binding.bind_ortvalue_output(meta.name, ort.OrtValue.ortvalue_from_numpy(buf))
    return binding, buffers


class OnnxRuntimeRunner:
    """Runs the bundle's ONNX; recurrent state pairs in the manifest are carried from call to call."""

    target = "onnxruntime"

    def __init__(self, bundle: Bundle, threads: int | None = None, disable_quant_qdq: bool = False) -> None:
        import onnxruntime as ort

        self.bundle = bundle
        self.inputs: tuple[TensorSpec, ...] = bundle.manifest.data_inputs
        self.outputs: tuple[TensorSpec, ...] = bundle.manifest.outputs
        self.state = CarriedState(bundle.manifest)
        self.n_params = count_parameters(bundle.main_file)
        self.threads = int(threads) if threads else auto_threads(self.n_params)
        self.disable_quant_qdq = bool(disable_quant_qdq)
        self.session = ort.InferenceSession(
            str(bundle.main_file), session_options(self.threads, self.disable_quant_qdq),
            providers=["CPUExecutionProvider"],
        )
        self._names = [i.name for i in self.session.get_inputs()]

    def _full(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self.state.full_inputs(dict(zip((s.name for s in self.inputs), check_inputs(self.inputs, inputs),
                                               strict=True)))

    def reset_state(self) -> None:
        self.state.reset()

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs = self.session.run(None, dict(zip(self._names, self._full(inputs), strict=True)))
        self.state.update(dict(zip((o.name for o in self.session.get_outputs()), outs, strict=True)))
        return outs

    def bench_call(self, inputs: list[np.ndarray]) -> Any:
        """The exact zero-argument call the benchmark times (also used by the bare-loop check)."""
        binding, self._buffers = bind_for_benchmark(self.session, self._full(inputs))
        self._binding = binding
        return functools.partial(self.session.run_with_iobinding, binding)

    def benchmark(self, inputs: list[np.ndarray], config: BenchConfig = BenchConfig()) -> LatencyReport:  # noqa: B008
        return time_callable(self.bench_call(inputs), config, target=self.target, settings=self.settings())

    def settings(self) -> dict[str, Any]:
        import onnxruntime as ort

        return {
            "onnxruntime": ort.__version__,
            "provider": "CPUExecutionProvider",
            "graph_optimization_level": "ORT_ENABLE_ALL",
            "execution_mode": "ORT_SEQUENTIAL",
            "intra_op_num_threads": self.threads,
            "inter_op_num_threads": 1,
            "io_binding": True,
            "disable_quant_qdq": self.disable_quant_qdq,
            "model_parameters": self.n_params,
        }

    def resources(self) -> dict[str, Any]:
        return {"model_bytes": self.bundle.main_file.stat().st_size, "parameters": self.n_params}

    def close(self) -> None:
        self.session = None


def open_runner(bundle: Bundle, options: OrtOptions) -> OnnxRuntimeRunner:
    """ONNX Runtime on the CPU, tuned for batch-1 latency (IO binding, full graph optimisation)"""
    return OnnxRuntimeRunner(bundle, threads=options.threads, disable_quant_qdq=options.disable_quant_qdq)


TARGET = Target("onnxruntime", ("onnx", "qcdq-onnx"), open_runner, OrtOptions, available)
