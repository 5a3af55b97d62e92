"""CUDA through ctypes (no pycuda / cuda-python): driver facts, and the few runtime calls a benchmark needs.

Shipped to the board: stdlib + numpy only, Python 3.8+.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _load_lib(names: Sequence[str]) -> ctypes.CDLL | None:
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    found = ctypes.util.find_library(names[0].split(".so")[0].replace("lib", "", 1))
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError:
            return None
    return None


def cuda_info() -> dict[str, Any]:
    """Driver version, device count, and device 0's name and compute capability, or ``error``.

    Uses libcuda's ``cuInit``, ``cuDriverGetVersion``, ``cuDeviceGetCount``, ``cuDeviceGetName`` and
    ``cuDeviceGetAttribute`` (75/76 = compute capability major/minor); the runtime version comes from
    libcudart's ``cudaRuntimeGetVersion`` when that library is found.
    """
    info: dict[str, Any] = {"device_count": 0}
    lib = _load_lib(["libcuda.so.1", "libcuda.so", "nvcuda.dll"])
    if lib is None:
        info["error"] = "no CUDA driver (libcuda.so.1 not found)"
        return info
    rc = lib.cuInit(0)
    if rc != 0:
        info["error"] = f"cuInit failed with CUresult {rc} (no usable CUDA device)"
        return info
    ver = ctypes.c_int(0)
    lib.cuDriverGetVersion(ctypes.byref(ver))
    info["driver_cuda_version"] = f"{ver.value // 1000}.{ver.value % 1000 // 10}"
    count = ctypes.c_int(0)
    lib.cuDeviceGetCount(ctypes.byref(count))
    info["device_count"] = count.value
    if count.value < 1:
        info["error"] = "no CUDA device"
        return info
    dev = ctypes.c_int(0)
    lib.cuDeviceGet(ctypes.byref(dev), 0)
    name = ctypes.create_string_buffer(256)
    lib.cuDeviceGetName(name, 256, dev)
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    lib.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)
    lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)
    info["gpu"] = name.value.decode(errors="replace")
    info["compute_capability"] = f"{major.value}.{minor.value}"
    rt = _load_lib(["libcudart.so", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so.10.2"])
    if rt is not None:
        rver = ctypes.c_int(0)
        if rt.cudaRuntimeGetVersion(ctypes.byref(rver)) == 0:
            info["cuda_runtime_version"] = f"{rver.value // 1000}.{rver.value % 1000 // 10}"
    nv = Path("/proc/driver/nvidia/version")
    if nv.is_file():
        first = nv.read_text(errors="replace").splitlines()[0]
        info["driver"] = first.split("Kernel Module")[-1].strip().split()[0] if "Kernel Module" in first else first
    return info


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
