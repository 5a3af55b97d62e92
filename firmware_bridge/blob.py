"""The model blob: the one file the converter writes and the firmware (and reference.py) read.

Little-endian throughout; every record starts 4-byte aligned, so the firmware parses it in place.

Header (48 bytes)::

    0  magic "NEMB"        4  u16 version (1)     6  u16 n_layers
    8  u32 total_size      12 u32 arena_bytes (2 x the largest activation, 4-aligned)
    16 u16 in_h, in_w, in_c, out_size
    24 f32 in_scale, i32 in_zero_point, f32 out_scale, i32 out_zero_point
    40 u32 flags (bit 0: the torch model takes NCHW)   44 u32 reserved

Layer record (72-byte header, then arrays)::

    0 u8 type, 3 bytes reserved, 4 u32 record size (a multiple of 4)
    8 16 x i32: in_h in_w in_c out_h out_w out_c k_h k_w stride_h stride_w pad_h pad_w
                 in_offset out_offset act_min act_max
    72 (DENSE, CONV2D, DWCONV2D only) i32 bias[out_c], i32 mult[out_c], i32 shift[out_c],
       i8 weights[...] padded to 4 bytes

Activations are int8 in HWC order. Weight layouts: DENSE [out][in], CONV2D [out_c][k_h][k_w][in_c]
(TFLite OHWI), DWCONV2D [k_h][k_w][out_c] with out_c = in_c x depth multiplier. ``in_offset`` is
minus the input zero point, ``out_offset`` the output zero point; a layer computes
``clamp(requant(bias + sum((x + in_offset) * w), mult, shift) + out_offset, act_min, act_max)``.
Each layer kind is a frozen dataclass in ``neuroedge.firmware_bridge.layers``, validated when built.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from neuroedge.firmware_bridge.layers import (  # noqa: F401 - re-exported: the blob's vocabulary
    KINDS,
    WEIGHTED,
    AvgPool2d,
    BlobError,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Layer,
    LayerType,
    MaxPool2d,
    ReLU,
    make_layer,
)

MAGIC = b"NEMB"
VERSION = 1
HEADER = struct.Struct("<4sHHII4HfifiII")
LAYER_HEAD = struct.Struct("<B3xI16i")
FLAG_NCHW = 1


def weight_shape(
    ltype: LayerType, in_shape: tuple[int, ...], out_shape: tuple[int, ...], kernel: tuple[int, ...]
) -> tuple[int, ...]:
    """The int8 weight array's shape for a layer type (see the module docstring)."""
    (ih, iw, ic), oc, (kh, kw) = in_shape, out_shape[2], kernel
    if ltype == LayerType.DENSE:
        return (oc, ih * iw * ic)
    if ltype == LayerType.CONV2D:
        return (oc, kh, kw, ic)
    return (kh, kw, oc)


@dataclass(frozen=True)
class Model:
    """A whole int8 model: layers plus the input/output quantisation (real = scale * (q - zero_point))."""

    layers: tuple[Layer, ...]
    in_scale: float
    in_zero_point: int
    out_scale: float
    out_zero_point: int
    nchw: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise BlobError("a model needs at least one layer")
        for name in ("in", "out"):
            scale, zp = getattr(self, f"{name}_scale"), getattr(self, f"{name}_zero_point")
            if not (scale > 0 and np.isfinite(scale)) or not -128 <= zp <= 127:
                raise BlobError(f"{name}put quantisation: scale {scale} must be > 0 and zero point {zp} int8")
        prev = self.layers[0].in_shape
        for i, layer in enumerate(self.layers):
            if int(np.prod(layer.in_shape)) != int(np.prod(prev)):
                raise BlobError(f"layer {i} ({layer.type.name}) takes {layer.in_shape}, previous gives {prev}")
            prev = layer.out_shape

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return self.layers[0].in_shape

    @property
    def in_size(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def out_size(self) -> int:
        return int(np.prod(self.layers[-1].out_shape))

    @property
    def arena_bytes(self) -> int:
        """2 x the largest activation, 4-aligned: the firmware's ping-pong buffers (``arena_needed``)."""
        return 2 * ((self.largest_activation + 3) & ~3)

    @property
    def largest_activation(self) -> int:
        return max([self.in_size] + [int(np.prod(layer.out_shape)) for layer in self.layers])

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


def _pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def pack(model: Model) -> bytes:
    """Serialise ``model`` to the blob the firmware loads (the model checked its layer chain when built)."""
    records = []
    for layer in model.layers:
        (ih, iw, ic), (oh, ow, oc) = layer.in_shape, layer.out_shape
        body = b""
        if layer.type in WEIGHTED:
            body = (
                layer.bias.astype("<i4").tobytes()
                + layer.mult.astype("<i4").tobytes()
                + layer.shift.astype("<i4").tobytes()
                + _pad4(layer.weights.tobytes())
            )
        head = LAYER_HEAD.pack(
            int(layer.type),
            LAYER_HEAD.size + len(body),
            ih,
            iw,
            ic,
            oh,
            ow,
            oc,
            *layer.kernel,
            *layer.stride,
            *layer.pad,
            getattr(layer, "in_offset", 0),
            getattr(layer, "out_offset", 0),
            layer.act_min,
            layer.act_max,
        )
        records.append(head + body)
    total = HEADER.size + sum(len(r) for r in records)
    ih, iw, ic = model.in_shape
    header = HEADER.pack(
        MAGIC,
        VERSION,
        len(model.layers),
        total,
        model.arena_bytes,
        ih,
        iw,
        ic,
        model.out_size,
        float(model.in_scale),
        int(model.in_zero_point),
        float(model.out_scale),
        int(model.out_zero_point),
        FLAG_NCHW if model.nchw else 0,
        0,
    )
    return header + b"".join(records)


def unpack(blob: bytes) -> Model:
    """Parse a blob (the inverse of ``pack``); raises ``BlobError`` naming what is wrong."""
    if len(blob) < HEADER.size:
        raise BlobError(f"blob of {len(blob)} bytes is shorter than its {HEADER.size}-byte header")
    (
        magic,
        version,
        n_layers,
        total,
        _arena,
        ih,
        iw,
        ic,
        _out,
        in_scale,
        in_zp,
        out_scale,
        out_zp,
        flags,
        _,
    ) = HEADER.unpack_from(blob)
    if magic != MAGIC or version != VERSION:
        raise BlobError(f"not a version-{VERSION} neuroedge model blob (magic {magic!r}, version {version})")
    if total != len(blob):
        raise BlobError(f"blob header says {total} bytes, file has {len(blob)}")
    off, layers = HEADER.size, []
    for i in range(n_layers):
        if off + LAYER_HEAD.size > len(blob):
            raise BlobError(f"layer {i}: record runs past the end of the blob")
        typ, size, *p = LAYER_HEAD.unpack_from(blob, off)
        try:
            ltype = LayerType(typ)
        except ValueError:
            raise BlobError(f"layer {i}: unknown type {typ}") from None
        kw = dict(
            in_shape=tuple(p[0:3]),
            out_shape=tuple(p[3:6]),
            kernel=tuple(p[6:8]),
            stride=tuple(p[8:10]),
            pad=tuple(p[10:12]),
            in_offset=p[12],
            out_offset=p[13],
            act_min=p[14],
            act_max=p[15],
        )
        if ltype in WEIGHTED:
            oc = p[5]
            a = off + LAYER_HEAD.size
            arrays = [np.frombuffer(blob, "<i4", oc, a + 4 * oc * k).astype(np.int32) for k in range(3)]
            wshape = weight_shape(ltype, kw["in_shape"], kw["out_shape"], kw["kernel"])
            n_w = int(np.prod(wshape))
            w = np.frombuffer(blob, np.int8, n_w, a + 12 * oc).reshape(wshape).copy()
            kw.update(bias=arrays[0], mult=arrays[1], shift=arrays[2], weights=w)
        try:
            layers.append(make_layer(ltype, **kw))
        except BlobError as exc:
            raise BlobError(f"layer {i}: {exc}") from None
        off += size
    if off != len(blob):
        raise BlobError(f"layer records end at byte {off}, the blob at {len(blob)}")
    return Model(layers, in_scale, in_zp, out_scale, out_zp, nchw=bool(flags & FLAG_NCHW))


def c_array(blob: bytes, name: str = "ne_linked_blob") -> str:
    """The blob as a C source file, for linking into flash (``make qemu MODEL_C=...``)."""
    rows = [", ".join(f"0x{b:02x}" for b in blob[i : i + 16]) for i in range(0, len(blob), 16)]
    return (
        "/* Generated by neuroedge (converter mcu). Link with the firmware: make MODEL_C=<this file>. */\n"
        "#include <stdint.h>\n\n"
        f"const uint32_t {name}_len = {len(blob)}u;\n"
        f"const uint8_t {name}[{len(blob)}] __attribute__((aligned(4))) = {{\n    "
        + ",\n    ".join(rows)
        + "\n};\n"
    )
