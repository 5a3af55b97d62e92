#!/usr/bin/env python3
"""neuroedge's self-contained runner: benchmark an ONNX model with TensorRT (or onnxruntime) on this machine.

The jetson target copies this file, ``tensorrt_build.py`` and an ONNX bundle to the board over SSH and runs
it there; the local ``tensorrt`` target imports its ``TrtSession``. Needs only the stdlib, numpy, and the
board's TensorRT (8.x or 10.x, from JetPack) or onnxruntime. Python 3.8+ (JetPack 5 ships 3.8).

    python3 jetson_runner.py --onnx model.onnx --inputs inputs.npz --backend auto --precision fp16

Modes: ``bench`` (the default), ``run`` (one input set), ``run-samples`` (many, keyed ``INDEX:NAME``, one
remote invocation for an accuracy evaluation) and ``serve`` (a session kept open, answering framed requests
on stdin: the jetson target's ``run``). ``--inputs -`` reads the .npz from stdin. onnxruntime is set up and
timed as the host's onnxruntime target (IO binding), with only the CPU/CUDA(/TensorRT) providers.

Prints one JSON document after the line ``NEUROEDGE-RESULT``. Timings follow trtexec's split:
host latency (H2D copy + GPU compute + D2H copy, waited for), GPU compute time (CUDA events around the
enqueued work) and enqueue time (how long the execute call blocks the host). Build time is reported apart.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULT_MARKER = "NEUROEDGE-RESULT"


# ---- CUDA runtime through ctypes -----------------------------------------------------------------------

class CudaRuntime:
    """The few libcudart calls a benchmark needs: device memory, async copies, a stream, events."""

    H2D, D2H = 1, 2

    def __init__(self) -> None:
        lib = None
        for name in ("libcudart.so", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so.10.2",
                     "/usr/local/cuda/lib64/libcudart.so"):
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        if lib is None:
            raise RuntimeError("libcudart not found; add the CUDA lib folder to LD_LIBRARY_PATH")
        self.lib = lib
        lib.cudaEventElapsedTime.argtypes = [ctypes.POINTER(ctypes.c_float), ctypes.c_void_p, ctypes.c_void_p]
        for fn in ("cudaMemcpyAsync",):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                         ctypes.c_void_p]
        lib.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
        lib.cudaFree.argtypes = [ctypes.c_void_p]
        lib.cudaStreamSynchronize.argtypes = [ctypes.c_void_p]
        lib.cudaEventRecord.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.cudaEventSynchronize.argtypes = [ctypes.c_void_p]
        self.stream = ctypes.c_void_p()
        self._check(lib.cudaStreamCreate(ctypes.byref(self.stream)), "cudaStreamCreate")

    @staticmethod
    def _check(rc: int, what: str) -> None:
        if rc != 0:
            raise RuntimeError(f"{what} failed with cudaError {rc}")

    def malloc(self, nbytes: int) -> int:
        ptr = ctypes.c_void_p()
        self._check(self.lib.cudaMalloc(ctypes.byref(ptr), max(int(nbytes), 1)), "cudaMalloc")
        return int(ptr.value)

    def free(self, ptr: int) -> None:
        self.lib.cudaFree(ctypes.c_void_p(ptr))

    def h2d(self, dst: int, src: np.ndarray) -> None:
        self._check(self.lib.cudaMemcpyAsync(ctypes.c_void_p(dst), src.ctypes.data, src.nbytes, self.H2D,
                                             self.stream), "cudaMemcpyAsync H2D")

    def d2h(self, dst: np.ndarray, src: int) -> None:
        self._check(self.lib.cudaMemcpyAsync(dst.ctypes.data, ctypes.c_void_p(src), dst.nbytes, self.D2H,
                                             self.stream), "cudaMemcpyAsync D2H")

    def sync(self) -> None:
        self._check(self.lib.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")

    def event(self) -> ctypes.c_void_p:
        ev = ctypes.c_void_p()
        self._check(self.lib.cudaEventCreate(ctypes.byref(ev)), "cudaEventCreate")
        return ev

    def record(self, ev: ctypes.c_void_p) -> None:
        self._check(self.lib.cudaEventRecord(ev, self.stream), "cudaEventRecord")

    def elapsed_ms(self, start: ctypes.c_void_p, end: ctypes.c_void_p) -> float:
        self.lib.cudaEventSynchronize(end)
        ms = ctypes.c_float(0.0)
        self._check(self.lib.cudaEventElapsedTime(ctypes.byref(ms), start, end), "cudaEventElapsedTime")
        return float(ms.value)


# ---- TensorRT execution, 8.x and 10.x APIs --------------------------------------------------------------

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


# ---- board facts -----------------------------------------------------------------------------------------

def _cmd(args: list[str], timeout: float = 10.0) -> str | None:
    if shutil.which(args[0]) is None:
        return None
    try:
        out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        return out.stdout.decode(errors="replace").strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def clocks_locked(jetson_clocks_show: str | None) -> bool | None:
    """From ``jetson_clocks --show``: True when every MinFreq equals MaxFreq (what jetson_clocks sets)."""
    if not jetson_clocks_show:
        return None
    pairs = re.findall(r"MinFreq=(\d+)\s+MaxFreq=(\d+)", jetson_clocks_show)
    if not pairs:
        return None
    return all(lo == hi for lo, hi in pairs)


def board_facts() -> dict[str, Any]:
    """What decides a Jetson's numbers: L4T release, power mode, clocks; plain host facts elsewhere."""
    facts: dict[str, Any] = {"hostname": platform.node(), "machine": platform.machine(),
                             "python": platform.python_version()}
    rel = Path("/etc/nv_tegra_release")
    facts["nv_tegra_release"] = rel.read_text(errors="replace").strip() if rel.is_file() else None
    facts["nvpmodel"] = _cmd(["nvpmodel", "-q"])
    show = _cmd(["jetson_clocks", "--show"])
    facts["jetson_clocks"] = show
    facts["clocks_locked"] = clocks_locked(show)
    return facts


def start_tegrastats() -> subprocess.Popen | None:
    if shutil.which("tegrastats") is None:
        return None
    try:
        return subprocess.Popen(["tegrastats", "--interval", "500"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except OSError:
        return None


def stop_tegrastats(proc: subprocess.Popen | None) -> list[str] | None:
    if proc is None:
        return None
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode(errors="replace").strip().splitlines()[-5:]


# ---- main -----------------------------------------------------------------------------------------------

def _load_inputs(path: str | None) -> dict[str, np.ndarray]:
    """An .npz of arrays keyed by input name; ``-`` reads it from stdin (one SSH call carries the inputs)."""
    if not path:
        return {}
    source: Any = io.BytesIO(sys.stdin.buffer.read()) if path == "-" else path
    with np.load(source, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def split_samples(arrays: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """``{"0:x": a0, "1:x": a1, ...}`` (a batched run: sample index, colon, input name) -> one dict per sample."""
    samples: dict[int, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        idx, _, name = key.partition(":")
        samples.setdefault(int(idx), {})[name] = arr
    return [samples[i] for i in sorted(samples)]


def _npz_b64(arrays: dict[str, np.ndarray]) -> str:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return base64.b64encode(buf.getvalue()).decode()


def build_or_reuse(onnx: str, cache_dir: Path, precision: str, batch: int) -> tuple:
    """Build the engine here (into a cache keyed by ONNX hash, TensorRT version, GPU), or reuse it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import tensorrt as trt
    import tensorrt_build as tb

    cuda = tb.cuda_info()
    onnx_hash = tb.sha256_file(onnx)
    key = tb.engine_cache_key(onnx_hash, trt.__version__, str(cuda.get("gpu")), precision, (1, batch, batch))
    engine = cache_dir / f"{key}.plan"
    log_path = cache_dir / f"{key}.json"
    if engine.is_file() and log_path.is_file():
        log = json.loads(log_path.read_text())
        reason = tb.check_engine_compatible(log, trt.__version__, cuda)
        if reason is None:
            return engine, log, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    log = tb.build_engine(onnx, engine, precision=precision, batch_profile=(1, batch, batch),
                          timing_cache=cache_dir / "timing.cache")
    log_path.write_text(json.dumps(log, indent=1))
    return engine, log, False


def open_session(backend: str, args: Any, sample: dict[str, np.ndarray], result: dict[str, Any]) -> Any:
    """A TensorRT session (engine built here or reused from the cache) or an onnxruntime one; facts -> result."""
    if backend == "tensorrt":
        import tensorrt as trt

        batch = max([int(a.shape[0]) for a in sample.values() if a.ndim] or [1])
        engine, log, hit = build_or_reuse(args.onnx, Path(args.cache_dir), args.precision, batch)
        result.update({"build": log, "engine_cache_hit": hit, "tensorrt_version": trt.__version__})
        session: Any = TrtSession(engine.read_bytes(), {k: list(v.shape) for k, v in sample.items()})
        result["trt_api"] = "execute_async_v3" if session.v3 else "execute_async_v2"
        return session
    session = OrtSession(args.onnx, threads=args.ort_threads, providers=args.ort_providers)
    result.update({"onnxruntime_version": session.version, "providers": session.providers, "build": None,
                   "ort_settings": session.settings})
    return session


def _read_exact(stream: Any, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("stdin closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def serve(backend: str, args: Any, result: dict[str, Any]) -> int:
    """Keep one session open and answer requests, so a host's repeated ``run`` costs no process start.

    Framing, both ways: an 8-byte big-endian length, then that many bytes. A request is an .npz of inputs
    keyed by name (length 0 ends the loop); a reply is JSON: ``{"outputs_npz_b64": ...}`` or
    ``{"error": "..."}``. The first line on stdout is ``NEUROEDGE-READY <json facts>``. Anything a library
    prints goes to stderr, so it cannot corrupt the frames. A TensorRT session is opened at the first
    request (its shapes bind the buffers) and reopened if the shapes change; the engine comes from the cache.
    """
    proto = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    session, shapes = None, None
    if backend != "tensorrt":
        session = open_session(backend, args, {}, result)
    proto.write((RESULT_MARKER + "-READY " + json.dumps(result) + "\n").encode())
    stdin = sys.stdin.buffer
    while True:
        try:
            size = int.from_bytes(_read_exact(stdin, 8), "big")
        except EOFError:
            break
        if size == 0:
            break
        reply: dict[str, Any]
        try:
            with np.load(io.BytesIO(_read_exact(stdin, size)), allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            now = {k: tuple(v.shape) for k, v in arrays.items()}
            if backend == "tensorrt" and now != shapes:
                if session is not None:
                    session.close()
                facts: dict[str, Any] = {}
                session, shapes = open_session(backend, args, arrays, facts), now
            else:
                facts = {}
            reply = {"outputs_npz_b64": _npz_b64(session.run(arrays))}
            if facts:
                reply["opened"] = facts  # the build log / engine cache hit of a (re)opened TensorRT session
        except Exception as exc:  # report and keep serving: one bad request must not end the session
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        body = json.dumps(reply).encode()
        proto.write(len(body).to_bytes(8, "big") + body)
    if session is not None:
        session.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="neuroedge board runner")
    p.add_argument("--onnx", required=True)
    p.add_argument("--inputs", help=".npz of input arrays keyed by input name ('-': read it from stdin)")
    p.add_argument("--backend", choices=("auto", "tensorrt", "onnxruntime"), default="auto")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16")
    p.add_argument("--mode", choices=("bench", "run", "run-samples", "serve"), default="bench",
                   help="run-samples: inputs keyed 'INDEX:NAME', one run per sample, outputs keyed the same way; "
                        "serve: answer framed requests on stdin until a zero-length one (see serve())")
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--warmup-s", type=float, default=0.2)
    p.add_argument("--duration-s", type=float, default=3.0)
    p.add_argument("--ort-providers", default="cuda,cpu", help="onnxruntime providers to use, best first")
    p.add_argument("--ort-threads", type=int, default=1)
    p.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/neuroedge/engines"))
    args = p.parse_args(argv)

    result: dict[str, Any] = {"runner_python": platform.python_version(), "warnings": []}
    result["board"] = board_facts()
    backend = args.backend
    if backend == "auto":
        try:
            import tensorrt  # noqa: F401

            backend = "tensorrt"
        except ImportError:
            backend = "onnxruntime"
    result["backend"] = backend
    if args.mode == "serve":
        return serve(backend, args, result)
    inputs = _load_inputs(args.inputs)
    samples = split_samples(inputs) if args.mode == "run-samples" else [inputs]
    session = open_session(backend, args, samples[0] if samples else {}, result)
    if result["board"]["nv_tegra_release"] is not None and result["board"]["clocks_locked"] is not True:
        result["warnings"].append("clocks are not locked: run `sudo nvpmodel -m 0 && sudo jetson_clocks` "
                                  "for reproducible numbers")
    if args.mode == "run":
        result["outputs_npz_b64"] = _npz_b64(session.run(inputs))
    elif args.mode == "run-samples":
        outs: dict[str, np.ndarray] = {}
        t0 = time.perf_counter()
        for i, sample in enumerate(samples):
            for name, arr in session.run(sample).items():
                outs[f"{i}:{name}"] = arr
        result["samples"] = len(samples)
        result["samples_seconds"] = time.perf_counter() - t0
        result["outputs_npz_b64"] = _npz_b64(outs)
    else:
        stats = start_tegrastats()
        result["timings"] = session.benchmark(inputs, args.iterations, args.warmup_s, args.duration_s)
        result["tegrastats"] = stop_tegrastats(stats)
    session.close()
    sys.stdout.write(RESULT_MARKER + "\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
