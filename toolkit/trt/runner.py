"""The board runner: benchmark an ONNX model with TensorRT (or onnxruntime) on this machine.

The jetson target uploads this package (as ``trt``) and an ONNX model to the board over SSH and runs it
there. Needs only the stdlib, numpy, and the board's TensorRT (8.x or 10.x, from JetPack) or onnxruntime.
Python 3.8+ (JetPack 5 ships 3.8).

    python3 -m trt.runner --onnx model.onnx --inputs inputs.npz --backend auto --precision fp16

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

from .build import build_engine, check_engine_compatible, engine_cache_key
from .cuda import cuda_info, sha256_file
from .session import OrtSession, TrtSession

RESULT_MARKER = "NEUROEDGE-RESULT"


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
    import tensorrt as trt

    cuda = cuda_info()
    onnx_hash = sha256_file(onnx)
    key = engine_cache_key(onnx_hash, trt.__version__, str(cuda.get("gpu")), precision, (1, batch, batch))
    engine = cache_dir / f"{key}.plan"
    log_path = cache_dir / f"{key}.json"
    if engine.is_file() and log_path.is_file():
        log = json.loads(log_path.read_text())
        reason = check_engine_compatible(log, trt.__version__, cuda)
        if reason is None:
            return engine, log, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    log = build_engine(onnx, engine, precision=precision, batch_profile=(1, batch, batch),
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
