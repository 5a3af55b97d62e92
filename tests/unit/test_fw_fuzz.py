"""Property tests of the frame codec with hypothesis (skipped when hypothesis is not installed)."""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis", reason="hypothesis is not installed: pip install hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from neuroedge.firmware_bridge.protocol import (  # noqa: E402
    Cmd,
    Frame,
    FrameError,
    FrameReader,
    cobs_decode,
    cobs_encode,
    decode_frame,
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000))
def test_cobs_roundtrip_fuzz(data: bytes) -> None:
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert cobs_decode(enc) == data


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.sampled_from(list(Cmd)), st.binary(max_size=1024))
def test_frame_roundtrip(seq: int, cmd: Cmd, payload: bytes) -> None:
    wire = Frame(seq, cmd, payload).encode()
    assert wire.endswith(b"\x00") and wire.count(0) == 1
    assert decode_frame(wire[:-1]) == Frame(seq, cmd, payload)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_decoder_fuzz_never_crashes_or_accepts_garbage_silently(data: bytes) -> None:
    """Random bytes: either a FrameError, or a frame whose CRC truly checks (re-encoding reproduces it)."""
    reader = FrameReader(limit=2100)
    for enc in reader.feed(data + b"\x00"):
        if enc is None:
            continue
        try:
            fr = decode_frame(enc, max_payload=1024)
        except FrameError:
            continue
        assert cobs_decode(fr.encode()[:-1]) == cobs_decode(enc)
