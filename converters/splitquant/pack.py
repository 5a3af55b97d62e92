"""Integer weights packed to their real size: INT2 four to a byte, INT4 two, INT8 one.

Fake-quantised ONNX stores every weight as a float, so its file is as large at INT2 as at INT8. This
file holds what a deployment needs: for each quantised layer ``L``, in one ``.npz``,

    L.weight.packed      uint8, the codes as a bit stream, ``b`` bits each, most significant first
    L.weight.shape       int64, the weight's shape
    L.weight.scale       float32, per output channel (or one value)
    L.weight.zero_point  float32, same shape as the scale
    L.weight.bits        the bit width ``b``;   L.weight.signed: 1 for two's complement codes

and the weight is ``w = scale * (q - zero_point)``. ``n`` codes take ``ceil(n b / 8)`` bytes. A merged
SplitQuant layer (``merge.py``) is stored instead as a per-channel codebook (``L.weight.codebook``,
``L.weight.indices``, ``L.weight.shape``, ``L.weight.index_bits``); ``read_packed`` reads both kinds.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuroedge.bundle import atomic_write_bytes

if TYPE_CHECKING:
    import torch


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack integers (each in ``b`` bits: unsigned, or two's complement) into a uint8 bit stream."""
    flat = np.asarray(codes).astype(np.int64).ravel() & ((1 << bits) - 1)
    planes = (flat[:, None] >> np.arange(bits - 1, -1, -1)) & 1  # [n, b], MSB first
    return np.packbits(planes.astype(np.uint8).ravel())


def unpack_codes(packed: np.ndarray, bits: int, count: int, signed: bool) -> np.ndarray:
    """The inverse of ``pack_codes``: ``count`` integers of ``bits`` bits (sign-extended if ``signed``)."""
    planes = np.unpackbits(np.asarray(packed, dtype=np.uint8))[: count * bits].reshape(count, bits)
    values = (planes.astype(np.int64) << np.arange(bits - 1, -1, -1)).sum(axis=1)
    if signed:
        values = np.where(values >= 1 << (bits - 1), values - (1 << bits), values)
    return values


def layer_codes(layer: Any) -> dict[str, np.ndarray]:
    """The integer codes, scale and zero point of one brevitas layer's weight, as numpy arrays."""
    import torch

    with torch.no_grad():
        qw = layer.quant_weight()
        bits = int(qw.bit_width)
        return {
            "codes": qw.int().cpu().numpy().astype(np.int64),
            "scale": qw.scale.detach().cpu().numpy().astype(np.float32),
            "zero_point": qw.zero_point.detach().cpu().numpy().astype(np.float32),
            "bits": np.int64(bits),
            "signed": np.int64(bool(qw.signed)),
        }


def packed_arrays(layers: dict[str, Any]) -> dict[str, np.ndarray]:
    """The ``.npz`` contents for ``{name: brevitas layer}`` (see the module docstring)."""
    out: dict[str, np.ndarray] = {}
    for name, layer in layers.items():
        c = layer_codes(layer)
        key = f"{name}.weight"
        out[f"{key}.packed"] = pack_codes(c["codes"], int(c["bits"]))
        out[f"{key}.shape"] = np.asarray(c["codes"].shape, dtype=np.int64)
        out[f"{key}.scale"] = c["scale"]
        out[f"{key}.zero_point"] = c["zero_point"]
        out[f"{key}.bits"] = np.asarray(c["bits"])
        out[f"{key}.signed"] = np.asarray(c["signed"])
    return out


def write_packed(path: Path, layers: dict[str, Any], codebooks: dict[str, np.ndarray] | None = None) -> dict[str, int]:
    """Write the packed weights (and any merged layers' codebook arrays, ``merge.codebook_arrays``).

    Returns ``{"packed_bytes": file size, "packed_weight_bytes": codes, indices and tables only}``.
    """
    arrays = {**packed_arrays(layers), **(codebooks or {})}
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # uncompressed: the size is the real size
    atomic_write_bytes(Path(path), buf.getvalue())
    code_bytes = sum(a.nbytes for k, a in arrays.items()
                     if k.endswith((".packed", ".weight.indices", ".weight.codebook")))
    return {"packed_bytes": len(buf.getvalue()), "packed_weight_bytes": int(code_bytes)}


def read_packed(path: Path) -> dict[str, np.ndarray]:
    """``{layer name: float weight}`` rebuilt from a packed file: ``scale * (q - zero_point)``."""
    with np.load(path) as z:
        names = sorted({k[: -len(".weight.packed")] for k in z.files if k.endswith(".weight.packed")})
        out = {}
        for name in names:
            key = f"{name}.weight"
            shape = tuple(int(d) for d in z[f"{key}.shape"])
            q = unpack_codes(z[f"{key}.packed"], int(z[f"{key}.bits"]), int(np.prod(shape)), bool(z[f"{key}.signed"]))
            out[name] = (z[f"{key}.scale"] * (q.reshape(shape) - z[f"{key}.zero_point"])).astype(np.float32)
        out.update(read_codebooks(z))
    return out


# ---- the codebook form of merged layers (neuroedge.converters.splitquant.merge) ----


def levels_per_channel(weight: np.ndarray) -> np.ndarray:
    """The number of distinct values in each output channel (row) of a weight."""
    rows = np.asarray(weight).reshape(weight.shape[0], -1)
    return np.array([np.unique(r).size for r in rows], dtype=np.int64)


def codebook(weight: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel codebook arrays for one weight (see the module docstring), lossless."""
    w = np.asarray(weight, dtype=np.float32)
    rows = w.reshape(w.shape[0], -1)
    tables = [np.unique(r) for r in rows]
    k = max(t.size for t in tables)
    bits = max(1, math.ceil(math.log2(k)))
    table = np.stack([np.pad(t, (0, k - t.size), mode="edge") for t in tables]).astype(np.float32)
    idx = np.stack([np.searchsorted(t, r) for t, r in zip(tables, rows, strict=True)])
    return {"codebook": table, "indices": pack_codes(idx, bits), "shape": np.asarray(w.shape, dtype=np.int64),
            "index_bits": np.asarray(bits, dtype=np.int64)}


def from_codebook(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The weight back from ``codebook(weight)``: ``codebook[c, indices[c, j]]``."""
    shape = tuple(int(d) for d in arrays["shape"])
    table = np.asarray(arrays["codebook"])
    idx = unpack_codes(arrays["indices"], int(arrays["index_bits"]), int(np.prod(shape)), signed=False)
    idx = idx.reshape(shape[0], -1)
    return np.take_along_axis(table, idx, axis=1).reshape(shape).astype(np.float32)


def codebook_arrays(weights: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """``weights.packed.npz`` entries (``L.weight.codebook`` ...) for merged layers ``{name: weight}``."""
    out: dict[str, np.ndarray] = {}
    for name, w in weights.items():
        for key, value in codebook(w.detach().cpu().numpy()).items():
            out[f"{name}.weight.{key}"] = value
    return out


def read_codebooks(z: Any) -> dict[str, np.ndarray]:
    """``{layer name: float weight}`` for every codebook layer in an opened ``.npz``."""
    names = sorted({k[: -len(".weight.codebook")] for k in z.files if k.endswith(".weight.codebook")})
    return {n: from_codebook({k: z[f"{n}.weight.{k}"] for k in ("codebook", "indices", "shape", "index_bits")})
            for n in names}
