"""Sessions that run and time an ONNX model: TensorRT (8.x and 10.x APIs) and onnxruntime.

Shipped to the board (stdlib + numpy + TensorRT or onnxruntime, Python 3.8+); the local ``tensorrt`` target
uses ``TrtSession`` too, so host and board numbers come from the same code. Timings follow trtexec's split:
host latency (H2D copy + GPU compute + D2H copy, waited for), GPU compute time (CUDA events around the
enqueued work) and enqueue time (how long the execute call blocks the host).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .cuda import CudaRuntime


class TrtSession:
    """A deserialised engine with device buffers bound; ``run`` and ``benchmark`` as trtexec times them.

    TensorRT >= 10 (and 8.5+ where present) uses named I/O tensors: ``set_input_shape``,
    ``set_tensor_address`` and ``execute_async_v3``. Older 8.x uses bindings and ``execute_async_v2``.
    """

    def __init__(self, engine_bytes: bytes, input_shapes: dict[str, list[int]]) -> None:
        import tensorrt as trt

        self.trt = trt
        self.major = int(trt.__version__.split(".")[0])
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise RuntimeError(f"TensorRT {trt.__version__} could not deserialise the engine (built by another "
                               "TensorRT version or for another GPU?): rebuild it here")
        self.context = self.engine.create_execution_context()
        self.cuda = CudaRuntime()
        self.v3 = hasattr(self.context, "execute_async_v3") and hasattr(self.engine, "num_io_tensors")
        self.inputs: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        if self.v3:
            names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
            for name in names:
                if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                    shape = input_shapes.get(name) or list(self.engine.get_tensor_shape(name))
                    self.context.set_input_shape(name, shape)
            for name in names:
                is_in = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
                shape = list(self.context.get_tensor_shape(name))
                dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
                self._alloc(name, shape, dtype, is_in)
                self.context.set_tensor_address(name, self.inputs[name]["ptr"] if is_in
                                                else self.outputs[name]["ptr"])
        else:  # TensorRT 8.x bindings
            self.bindings = [0] * self.engine.num_bindings
            for i in range(self.engine.num_bindings):
                name = self.engine.get_binding_name(i)
                if self.engine.binding_is_input(i):
                    shape = input_shapes.get(name) or list(self.engine.get_binding_shape(i))
                    self.context.set_binding_shape(i, shape)
            for i in range(self.engine.num_bindings):
                name = self.engine.get_binding_name(i)
                is_in = self.engine.binding_is_input(i)
                shape = list(self.context.get_binding_shape(i))
                dtype = np.dtype(trt.nptype(self.engine.get_binding_dtype(i)))
                self._alloc(name, shape, dtype, is_in)
                self.bindings[i] = (self.inputs[name] if is_in else self.outputs[name])["ptr"]

    def _alloc(self, name: str, shape: list[int], dtype: np.dtype, is_input: bool) -> None:
        if any(d < 0 for d in shape):
            raise RuntimeError(f"tensor {name!r} still has a dynamic shape {shape}; pass its input shape")
        host = np.zeros(shape, dtype=dtype)
        entry = {"shape": shape, "dtype": dtype, "host": host, "ptr": self.cuda.malloc(host.nbytes)}
        (self.inputs if is_input else self.outputs)[name] = entry

    def _enqueue(self) -> None:
        if self.v3:
            ok = self.context.execute_async_v3(self.cuda.stream.value or 0)
        else:
            ok = self.context.execute_async_v2(self.bindings, self.cuda.stream.value or 0)
        if not ok:
            raise RuntimeError("TensorRT execute failed")

    def set_inputs(self, arrays: dict[str, np.ndarray]) -> None:
        for name, arr in arrays.items():
            entry = self.inputs[name]
            np.copyto(entry["host"], np.asarray(arr, dtype=entry["dtype"]).reshape(entry["shape"]))

    def run(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.set_inputs(arrays)
        for entry in self.inputs.values():
            self.cuda.h2d(entry["ptr"], entry["host"])
        self._enqueue()
        for entry in self.outputs.values():
            self.cuda.d2h(entry["host"], entry["ptr"])
        self.cuda.sync()
        return {name: entry["host"].copy() for name, entry in self.outputs.items()}

    def benchmark(self, arrays: dict[str, np.ndarray], iterations: int = 1000, warmup_s: float = 0.2,
                  min_duration_s: float = 3.0) -> dict[str, list[float]]:
        """trtexec's defaults: 200 ms warm-up, then >= ``iterations`` and >= ``min_duration_s`` seconds."""
        self.set_inputs(arrays)
        start_ev, end_ev = self.cuda.event(), self.cuda.event()
        t_end = time.perf_counter() + warmup_s
        while time.perf_counter() < t_end:
            self._one(start_ev, end_ev)
        host, gpu, enqueue = [], [], []
        deadline = time.perf_counter() + min_duration_s
        while len(host) < iterations or time.perf_counter() < deadline:
            h, g, e = self._one(start_ev, end_ev)
            host.append(h)
            gpu.append(g)
            enqueue.append(e)
        return {"host_latency_ms": host, "gpu_compute_ms": gpu, "enqueue_ms": enqueue}

    def _one(self, start_ev: Any, end_ev: Any) -> tuple:
        t0 = time.perf_counter()
        for entry in self.inputs.values():
            self.cuda.h2d(entry["ptr"], entry["host"])
        self.cuda.record(start_ev)
        e0 = time.perf_counter()
        self._enqueue()
        e1 = time.perf_counter()
        self.cuda.record(end_ev)
        for entry in self.outputs.values():
            self.cuda.d2h(entry["host"], entry["ptr"])
        self.cuda.sync()
        t1 = time.perf_counter()
        return (t1 - t0) * 1e3, self.cuda.elapsed_ms(start_ev, end_ev), (e1 - e0) * 1e3

    def close(self) -> None:
        for entry in list(self.inputs.values()) + list(self.outputs.values()):
            self.cuda.free(entry["ptr"])
        self.inputs, self.outputs = {}, {}


# ---- onnxruntime fallback ------------------------------------------------------------------------------

# The execution providers worth running a benchmark on, best first. Others an onnxruntime wheel may list
# (AzureExecutionProvider calls a cloud endpoint; OpenVINO/DML are not on a Jetson) are never passed.
ORT_PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
                 "cpu": "CPUExecutionProvider"}


def pick_providers(available: list[str], wanted: str = "cuda,cpu") -> list[str]:
    """The providers to pass, in the order asked (``wanted``: comma list of tensorrt, cuda, cpu) that exist.

    CPU is always last, so a graph the GPU provider cannot place still runs. TensorRT's provider is only
    used when asked: it builds its own engine in every new process, which a per-call runner cannot amortise.
    """
    names = [w.strip().lower() for w in wanted.split(",") if w.strip()]
    unknown = [n for n in names if n not in ORT_PROVIDERS]
    if unknown:
        raise ValueError(f"unknown onnxruntime provider(s) {unknown}; known: {', '.join(ORT_PROVIDERS)}")
    gpu = [ORT_PROVIDERS[n] for n in names if n != "cpu" and ORT_PROVIDERS[n] in available]
    return gpu + ["CPUExecutionProvider"]


class OrtSession:
    """onnxruntime on the board, set up and timed as the host's ``onnxruntime`` target does.

    Same session options (full graph optimisation, sequential, one inter-op thread, ``threads`` intra-op),
    and the benchmark times exactly ``run_with_iobinding`` with the inputs and preallocated outputs bound
    once (``targets/onnxruntime.py: bind_for_benchmark``), so board and host numbers mean the same thing.
    """

    def __init__(self, onnx_path: str, threads: int = 1, providers: str = "cuda,cpu") -> None:
        import onnxruntime as ort

        self.ort = ort
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        chosen = pick_providers(ort.get_available_providers(), providers)
        self.session = ort.InferenceSession(onnx_path, opts, providers=chosen)
        self.version = ort.__version__
        self.providers = self.session.get_providers()
        self.settings = {"graph_optimization_level": "ORT_ENABLE_ALL", "execution_mode": "ORT_SEQUENTIAL",
                         "intra_op_num_threads": threads, "inter_op_num_threads": 1, "io_binding": True,
                         "providers": self.providers}
        self.input_names = [i.name for i in self.session.get_inputs()]

    def run(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, arrays)))  # noqa: B905 - runs on Python 3.8

    def _bind(self, arrays: dict[str, np.ndarray]) -> Any:
        binding = self.session.io_binding()
        feeds = {name: np.ascontiguousarray(arrays[name]) for name in self.input_names}
        for name, arr in feeds.items():
            binding.bind_cpu_input(name, arr)
        outs = self.session.run(None, feeds)  # one run tells the output shapes
        self._keep = (feeds, [np.empty_like(o) for o in outs])  # the bound buffers must outlive the binding
        for meta, buf in zip(self.session.get_outputs(), self._keep[1]):  # noqa: B905
            binding.bind_ortvalue_output(meta.name, self.ort.OrtValue.ortvalue_from_numpy(buf))
        return binding

    def benchmark(self, arrays: dict[str, np.ndarray], iterations: int = 1000, warmup_s: float = 0.2,
                  min_duration_s: float = 3.0) -> dict[str, list[float]]:
        binding = self._bind(arrays)
        run = self.session.run_with_iobinding
        t_end = time.perf_counter() + warmup_s
        while time.perf_counter() < t_end:
            run(binding)
        host = []
        deadline = time.perf_counter() + min_duration_s
        while len(host) < iterations or time.perf_counter() < deadline:
            t0 = time.perf_counter()
            run(binding)
            host.append((time.perf_counter() - t0) * 1e3)
        return {"host_latency_ms": host}

    def close(self) -> None:
        self.session = None
