"""The neuroedge serial protocol: COBS-framed binary messages with a CRC-32 (see PROTOCOL.md).

A frame on the wire is ``COBS(seq | cmd | len | payload | crc32) 0x00``:

* ``seq`` (u8): chosen by the host; the device echoes it in the reply. A retransmission reuses it.
* ``cmd`` (u8): a request code below; a reply carries ``cmd | 0x80``; ``BOOT`` and ``ERROR`` are
  device-originated.
* ``len`` (u16 LE): the payload length, at most the device's ``max_payload``.
* ``crc32`` (u32 LE): CRC-32/ISO-HDLC (zlib's ``crc32``: poly 0x04C11DB7 reflected, init and xorout
  0xFFFFFFFF) over seq, cmd, len and payload.

COBS (Cheshire & Baker) removes every 0x00 from the frame at a cost of one byte in 254, so 0x00
delimits frames and a receiver resynchronises at the next 0x00 after any loss or corruption.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

HEADER = struct.Struct("<BBH")
CRC = struct.Struct("<I")
MIN_FRAME = HEADER.size + CRC.size


class Cmd(enum.IntEnum):
    HELLO = 0x01
    LOAD_BEGIN = 0x02
    LOAD_CHUNK = 0x03
    LOAD_END = 0x04
    INFER = 0x05
    RESET = 0x06
    BOOT = 0x7E
    ERROR = 0x7F


REPLY = 0x80


class ErrorCode(enum.IntEnum):
    """Device ERROR codes. The first five are link errors: the host just retransmits."""

    BAD_CRC = 1
    BAD_COBS = 2
    TRUNCATED = 3
    TOO_LONG = 4
    BAD_LENGTH = 5
    UNKNOWN_CMD = 6
    BAD_STATE = 7
    BLOB_TOO_LARGE = 8
    BLOB_CRC = 9
    BLOB_INVALID = 10
    NO_MODEL = 11
    BAD_INPUT_SIZE = 12
    CHUNK_RANGE = 13
    BAD_PAYLOAD = 14


LINK_ERRORS = frozenset(
    {ErrorCode.BAD_CRC, ErrorCode.BAD_COBS, ErrorCode.TRUNCATED, ErrorCode.TOO_LONG, ErrorCode.BAD_LENGTH}
)


def crc32(data: bytes, crc: int = 0) -> int:
    """CRC-32/ISO-HDLC, the same as the firmware's ``ne_crc32_update`` (check value 0xCBF43926)."""
    return zlib.crc32(data, crc) & 0xFFFFFFFF


class CobsError(ValueError):
    pass


def cobs_encode(data: bytes) -> bytes:
    """Canonical COBS: no 0x00 in the output, at most ``1 + len // 254`` bytes longer.

    Each run of non-zero bytes between zeros becomes blocks of at most 254 data bytes, each led by
    its length + 1; a block of 254 (code 0xFF) implies no zero after it. As the firmware's encoder,
    a full block that ends the data gets no empty block after it.
    """
    out = bytearray()
    parts = bytes(data).split(b"\x00")
    last = len(parts) - 1
    for i, part in enumerate(parts):
        n = len(part)
        pos = 0
        while n - pos >= 254:
            out.append(0xFF)
            out += part[pos : pos + 254]
            pos += 254
        if i == last and n and pos == n:
            break
        out.append(n - pos + 1)
        out += part[pos:]
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of ``cobs_encode``; raises ``CobsError`` on a malformed block (as the firmware does)."""
    out = bytearray()
    r, n = 0, len(data)
    while r < n:
        code = data[r]
        r += 1
        if code == 0 or r + code - 1 > n:
            raise CobsError(f"bad COBS block at byte {r - 1}")
        block = data[r : r + code - 1]
        if 0 in block:
            raise CobsError("0x00 inside a COBS frame")
        out += block
        r += code - 1
        if code != 0xFF and r < n:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    seq: int
    cmd: int
    payload: bytes = b""

    def raw(self) -> bytes:
        head = HEADER.pack(self.seq & 0xFF, self.cmd & 0xFF, len(self.payload)) + self.payload
        return head + CRC.pack(crc32(head))

    def encode(self) -> bytes:
        """The bytes to write: COBS-encoded frame and its 0x00 delimiter."""
        return cobs_encode(self.raw()) + b"\x00"


class FrameError(ValueError):
    """A frame that fails to decode; ``code`` is the ErrorCode the firmware would answer with."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code


def decode_frame(encoded: bytes, max_payload: int = 0xFFFF) -> Frame:
    """Decode one frame (without its delimiter), checking in the firmware's order:
    COBS, size, truncation, length, CRC. Raises ``FrameError`` with the matching code."""
    raw_max = MIN_FRAME + max_payload
    if len(encoded) > raw_max + raw_max // 254 + 1:
        raise FrameError(ErrorCode.TOO_LONG, f"frame of {len(encoded)} bytes exceeds the maximum")
    try:
        raw = cobs_decode(encoded)
    except CobsError as exc:
        raise FrameError(ErrorCode.BAD_COBS, str(exc)) from None
    if len(raw) < MIN_FRAME:
        raise FrameError(ErrorCode.TRUNCATED, f"frame of {len(raw)} bytes is shorter than {MIN_FRAME}")
    seq, cmd, length = HEADER.unpack_from(raw)
    if MIN_FRAME + length > len(raw):
        raise FrameError(
            ErrorCode.TRUNCATED, f"length field says {length}, frame holds {len(raw) - MIN_FRAME}"
        )
    if MIN_FRAME + length < len(raw):
        raise FrameError(
            ErrorCode.BAD_LENGTH, f"length field says {length}, frame holds {len(raw) - MIN_FRAME}"
        )
    body = raw[: HEADER.size + length]
    (want,) = CRC.unpack_from(raw, HEADER.size + length)
    if crc32(body) != want:
        raise FrameError(ErrorCode.BAD_CRC, f"CRC mismatch (frame says {want:#010x})")
    return Frame(seq, cmd, bytes(raw[HEADER.size : HEADER.size + length]))


class FrameReader:
    """Splits a byte stream at 0x00 delimiters; ``feed`` returns the complete encoded frames.

    Bytes beyond ``limit`` without a delimiter are dropped (and the frame reported as too long),
    so a stream of garbage can never grow the buffer without bound.
    """

    def __init__(self, limit: int = 4096):
        self.limit = limit
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Complete frames in order; ``None`` stands for one that overflowed ``limit``."""
        out: list[bytes | None] = []
        parts = bytes(data).split(b"\x00")
        for chunk in parts[:-1]:
            out.extend(self._finish(chunk))
        self._append(parts[-1])
        return out

    def _append(self, chunk: bytes) -> None:
        if self._overflow:
            return
        self._buf += chunk
        if len(self._buf) > self.limit:
            self._buf.clear()
            self._overflow = True

    def _finish(self, chunk: bytes) -> list[bytes | None]:
        self._append(chunk)
        if self._overflow:
            self._overflow = False
            return [None]
        frame = bytes(self._buf)
        self._buf.clear()
        return [frame] if frame else []  # an empty frame (two delimiters) is a no-op

    def reset(self) -> None:
        self._buf.clear()
        self._overflow = False


# ---- payloads ----------------------------------------------------------------------------------

INFO = struct.Struct("<4sBBBBHHIIIBBHI16s")
LOAD_END_REPLY = struct.Struct("<IHHIII")
INFER_HEAD = struct.Struct("<IIIIHH")
ERROR_PAYLOAD = struct.Struct("<BBHI")
PLATFORMS = {1: "host", 2: "qemu-lm3s6965evb"}


@dataclass(frozen=True)
class DeviceInfo:
    """What HELLO (and the unsolicited BOOT) reports."""

    proto_version: int
    firmware_version: str
    max_payload: int
    capabilities: int
    blob_capacity: int
    arena_bytes: int
    clock_hz: int
    platform_id: int
    model_loaded: bool
    max_layers: int
    model_crc: int
    platform: str

    @classmethod
    def parse(cls, payload: bytes) -> DeviceInfo:
        if len(payload) != INFO.size:
            raise ValueError(f"INFO payload of {len(payload)} bytes, expected {INFO.size}")
        (
            magic,
            proto,
            major,
            minor,
            patch,
            max_payload,
            caps,
            cap,
            arena,
            hz,
            pid,
            loaded,
            max_layers,
            model_crc,
            name,
        ) = INFO.unpack(payload)
        if magic != b"NEFW":
            raise ValueError(f"INFO magic {magic!r} is not b'NEFW'")
        return cls(
            proto,
            f"{major}.{minor}.{patch}",
            max_payload,
            caps,
            cap,
            arena,
            hz,
            pid,
            bool(loaded),
            max_layers,
            model_crc,
            name.rstrip(b"\x00").decode("ascii", "replace"),
        )

    def to_json(self) -> dict:
        from dataclasses import asdict

        out = asdict(self)
        out["model_crc"] = f"{self.model_crc:#010x}"
        out["capabilities"] = [name for bit, name in CAPABILITIES.items() if self.capabilities & (1 << bit)]
        return out


CAPABILITIES = {
    0: "dense",
    1: "conv2d",
    2: "dwconv2d",
    3: "relu",
    4: "maxpool",
    5: "avgpool",
    6: "argmax",
    7: "linked-model",
    8: "reset",
}


@dataclass(frozen=True)
class InferReply:
    model_crc: int
    input_crc: int
    cycles: int
    device_us: int
    argmax: int
    output: bytes

    @classmethod
    def parse(cls, payload: bytes) -> InferReply:
        if len(payload) < INFER_HEAD.size:
            raise ValueError("INFER reply too short")
        model_crc, input_crc, cycles, us, argmax, n = INFER_HEAD.unpack_from(payload)
        out = payload[INFER_HEAD.size :]
        if len(out) != n:
            raise ValueError(f"INFER reply says {n} output bytes, carries {len(out)}")
        return cls(model_crc, input_crc, cycles, us, argmax, bytes(out))


@dataclass(frozen=True)
class DeviceError:
    code: int
    request: int
    detail: int

    @classmethod
    def parse(cls, payload: bytes) -> DeviceError:
        if len(payload) != ERROR_PAYLOAD.size:
            raise ValueError("ERROR payload of wrong size")
        code, request, _, detail = ERROR_PAYLOAD.unpack(payload)
        return cls(code, request, detail)

    @property
    def name(self) -> str:
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return f"code {self.code}"
