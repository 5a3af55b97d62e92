"""firmware_bridge protocol: COBS, CRC-32, framing, and the decoder's error codes (pure Python)."""

from __future__ import annotations

import struct
import zlib

import pytest

from neuroedge.firmware_bridge.protocol import (
    INFO,
    Cmd,
    CobsError,
    DeviceInfo,
    ErrorCode,
    Frame,
    FrameError,
    FrameReader,
    InferReply,
    cobs_decode,
    cobs_encode,
    crc32,
    decode_frame,
)

# Published COBS examples (Cheshire & Baker; the canonical encoder as on Wikipedia's COBS page).
VECTORS = [
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
    (bytes(range(3, 256)) + b"\x00\x01", b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"),
]


@pytest.mark.parametrize(("raw", "enc"), VECTORS)
def test_cobs_published_vectors(raw: bytes, enc: bytes) -> None:
    assert cobs_encode(raw) == enc
    assert cobs_decode(enc) == raw


def test_cobs_empty_and_block_boundaries() -> None:
    assert cobs_encode(b"") == b"\x01"
    assert cobs_decode(b"\x01") == b""
    for n in (253, 254, 255, 508, 509, 1024):
        data = bytes([7]) * n
        enc = cobs_encode(data)
        assert 0 not in enc
        assert len(enc) <= n + n // 254 + 1
        assert cobs_decode(enc) == data


@pytest.mark.parametrize("bad", [b"\x00", b"\x05\x11", b"\x03\x11\x00", b"\xff" + b"\x01" * 10])
def test_cobs_rejects_malformed(bad: bytes) -> None:
    with pytest.raises(CobsError):
        cobs_decode(bad)


def test_crc32_is_zlib_crc32_with_its_check_value() -> None:
    assert crc32(b"123456789") == 0xCBF43926
    assert crc32(b"") == 0
    data = bytes(range(256)) * 3
    assert crc32(data) == zlib.crc32(data)
    assert crc32(data[100:], crc32(data[:100])) == crc32(data)  # incremental, as the firmware uses it


def _raw_frame(
    seq: int, cmd: int, payload: bytes, length: int | None = None, crc: int | None = None
) -> bytes:
    head = struct.pack("<BBH", seq, cmd, len(payload) if length is None else length) + payload
    return head + struct.pack("<I", crc32(head) if crc is None else crc)


@pytest.mark.parametrize(
    ("encoded", "code"),
    [
        (b"\x05\x11", ErrorCode.BAD_COBS),
        (cobs_encode(b"\x01\x01\x00"), ErrorCode.TRUNCATED),
        (cobs_encode(_raw_frame(1, 5, b"abcdef")[:-3]), ErrorCode.TRUNCATED),
        (cobs_encode(_raw_frame(1, 5, b"abcdef", length=9)), ErrorCode.TRUNCATED),
        (cobs_encode(_raw_frame(1, 5, b"abcdef", length=2)), ErrorCode.BAD_LENGTH),
        (cobs_encode(_raw_frame(1, 5, b"abcdef", crc=0x12345678)), ErrorCode.BAD_CRC),
        (b"\x07" * 3000, ErrorCode.TOO_LONG),
    ],
)
def test_decoder_error_codes(encoded: bytes, code: ErrorCode) -> None:
    with pytest.raises(FrameError) as exc:
        decode_frame(encoded, max_payload=1024)
    assert exc.value.code == code


def test_every_single_bit_flip_is_detected() -> None:
    """CRC-32 detects all 1-bit errors; COBS may also reject. Never a valid but different frame."""
    frame = Frame(9, Cmd.INFER, bytes(range(64)))
    enc = frame.encode()[:-1]
    for i in range(len(enc)):
        for bit in range(8):
            bad = bytearray(enc)
            bad[i] ^= 1 << bit
            for part in bytes(bad).split(b"\x00"):  # a flip to 0x00 splits the frame in two
                if not part:
                    continue
                with pytest.raises(FrameError):
                    decode_frame(part)


def test_frame_reader_splits_resyncs_and_bounds_memory() -> None:
    a, b = Frame(1, Cmd.HELLO).encode(), Frame(2, Cmd.INFER, b"\x00\x01").encode()
    reader = FrameReader(limit=64)
    stream = b"\x13\x37garbage" + b"\x00" + a + b[:3]
    got = reader.feed(stream)
    assert [decode_frame(x) if x and x[0] != 0x13 else x for x in got][1] == Frame(1, Cmd.HELLO)
    assert [decode_frame(x) for x in reader.feed(b[3:])] == [Frame(2, Cmd.INFER, b"\x00\x01")]
    assert reader.feed(b"\x00\x00") == []  # empty frames are no-ops
    assert reader.feed(b"\x55" * 200 + b"\x00" + a) == [None, a[:-1]]  # overflow reported, then resync


def test_payload_parsers() -> None:
    info = INFO.pack(
        b"NEFW", 1, 0, 1, 0, 1024, 0x17F, 45056, 6144, 50_000_000, 2, 1, 16, 0xDEADBEEF, b"lm3s6965"
    )
    d = DeviceInfo.parse(info)
    assert (d.platform, d.firmware_version, d.max_payload, d.model_loaded) == (
        "lm3s6965",
        "0.1.0",
        1024,
        True,
    )
    assert "conv2d" in d.to_json()["capabilities"]
    with pytest.raises(ValueError):
        DeviceInfo.parse(b"XXXX" + info[4:])
    rep = InferReply.parse(struct.pack("<IIIIHH", 1, 2, 3, 4, 5, 3) + b"\x01\x02\x03")
    assert rep.output == b"\x01\x02\x03" and rep.argmax == 5
    with pytest.raises(ValueError):
        InferReply.parse(struct.pack("<IIIIHH", 1, 2, 3, 4, 5, 9) + b"\x01")


def test_driver_fails_loudly_on_a_dead_or_echoing_link() -> None:
    """pyserial's loop:// echoes our own requests back: never a valid reply, so LinkError, not garbage."""
    from neuroedge.firmware_bridge.host import Device, LinkError

    with Device.open("loop://", timeout=0.05, retries=2) as dev:
        with pytest.raises(LinkError, match="no valid reply to HELLO after 3 attempts"):
            dev.hello()
        assert dev.stats.retransmissions == 2 and dev.stats.foreign_replies >= 1
