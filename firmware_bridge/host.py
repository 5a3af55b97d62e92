"""The host driver: talks the neuroedge protocol to a device over pyserial, headless and scriptable.

URLs: ``serial:///dev/ttyACM0?baud=115200``, a bare path (``/dev/ttyUSB0``, a pty ``/dev/pts/7``),
and pyserial's own ``loop://`` and ``socket://host:port``.

Reliability contract: every request is retried on a timeout, a corrupted or foreign reply, or a
link-level ERROR, with the *same* sequence number, so the device replays its cached reply instead
of executing twice. A result is returned only from a reply whose CRC-32 checks, whose seq and
command match the request, and (for INFER) whose echoed model CRC and input CRC match what the host
holds. A device reset (BOOT frame, or NO_MODEL) triggers a reload of the model and a retry. When the
retries run out, ``LinkError`` is raised: never a wrong answer.
"""

from __future__ import annotations

import random
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from neuroedge.firmware_bridge.limits import blob_needs, fit_problems
from neuroedge.firmware_bridge.protocol import (
    LINK_ERRORS,
    LOAD_END_REPLY,
    REPLY,
    Cmd,
    DeviceError,
    DeviceInfo,
    ErrorCode,
    Frame,
    FrameError,
    FrameReader,
    InferReply,
    crc32,
    decode_frame,
)


class LinkError(RuntimeError):
    """The device did not give a verifiable answer within the retries: the link or device is bad."""


# ne_model_parse's reasons for BLOB_INVALID (firmware/src/ne_model.h).
BLOB_INVALID_REASONS = {1: "bad magic or version", 2: "size mismatch", 3: "bad layer record",
                        4: "inconsistent shapes or parameters", 5: "the activation arena (NE_ARENA_BYTES) is too small",
                        6: "more layers than NE_MAX_LAYERS"}


class DeviceErrorReply(RuntimeError):
    """The device understood the request and refused it (an ERROR that a retry will not fix)."""

    def __init__(self, err: DeviceError, context: str = ""):
        why = BLOB_INVALID_REASONS.get(err.detail) if err.code == ErrorCode.BLOB_INVALID else None
        super().__init__(
            f"{context}device answered ERROR {err.name} (request {err.request:#04x}, detail {err.detail}"
            + (f": {why})" if why else ")")
        )
        self.error = err


class DeviceLimitError(RuntimeError):
    """The model or input exceeds what the device was built to hold; the message names each limit."""


def _is_too_long(fr: Frame) -> bool:
    try:
        return fr.cmd == Cmd.ERROR and DeviceError.parse(fr.payload).code == ErrorCode.TOO_LONG
    except ValueError:
        return False


class DeviceRebooted(RuntimeError):
    """Internal: the device announced BOOT while a multi-step operation was under way."""


def open_serial(url: str, baud: int = 115200, timeout: float = 0.05) -> Any:
    """Open a pyserial port from a neuroedge device URL (see the module docstring)."""
    import serial

    if url.startswith("serial://"):
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        baud = int(query.get("baud", [baud])[0])
        path = parsed.path or parsed.netloc
        return serial.Serial(path, baudrate=baud, timeout=timeout, write_timeout=5)
    if "://" in url:
        return serial.serial_for_url(url, baudrate=baud, timeout=timeout)
    return serial.Serial(url, baudrate=baud, timeout=timeout, write_timeout=5)


@dataclass
class LinkStats:
    requests: int = 0
    retransmissions: int = 0
    timeouts: int = 0
    bad_frames: int = 0
    foreign_replies: int = 0
    link_error_replies: int = 0
    reboots_seen: int = 0
    reloads: int = 0
    load_restarts: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class InferResult:
    output: bytes
    argmax: int
    cycles: int
    device_us: int
    roundtrip_s: float


@dataclass
class Device:
    """A connected device. ``Device.open(url)`` then ``hello()``, ``load(blob)``, ``infer(x)``."""

    port: Any
    timeout: float = 1.0
    retries: int = 10
    chunk: int = 0  # LOAD chunk size; 0: as large as the device's max_payload allows
    stats: LinkStats = field(default_factory=LinkStats)
    info: DeviceInfo | None = None
    _seq: int = field(default_factory=lambda: random.randrange(256))
    _reader: FrameReader = field(default_factory=FrameReader)
    _blob: bytes | None = None
    _blob_crc: int | None = None
    _rebooted: bool = False

    @classmethod
    def open(cls, url: str, timeout: float = 1.0, retries: int = 10, baud: int = 115200) -> Device:
        dev = cls(open_serial(url, baud=baud), timeout=timeout, retries=retries)
        dev.port.reset_input_buffer()
        dev.port.write(b"\x00")  # ends any half frame the device holds from an earlier session
        return dev

    def close(self) -> None:
        try:
            self.port.close()
        except Exception:
            pass

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- one request, retried ---------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFF
        return self._seq

    def _read_frames(self, deadline: float) -> list[Frame | None]:
        """Frames that arrive before ``deadline`` (at least one read); None marks a corrupt one."""
        out: list[Frame | None] = []
        while not out:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out
            data = self.port.read(max(1, self.port.in_waiting))
            if not data:
                continue
            for enc in self._reader.feed(data):
                if enc is None:
                    self.stats.bad_frames += 1
                    out.append(None)
                    continue
                try:
                    out.append(decode_frame(enc))
                except FrameError:
                    self.stats.bad_frames += 1
                    out.append(None)
        return out

    def request(self, cmd: Cmd, payload: bytes = b"", timeout: float | None = None) -> Frame:
        """Send one request and return its verified reply frame (a reply or a non-link ERROR).

        Raises ``LinkError`` after ``retries`` retransmissions without a valid answer.
        """
        seq = self._next_seq()
        wire = Frame(seq, cmd, payload).encode()
        timeout = self.timeout if timeout is None else timeout
        self.stats.requests += 1
        too_long = 0  # TOO_LONG replies: the device's receive buffer is smaller than this frame
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retransmissions += 1
                # A delimiter first: whatever garbage the device holds becomes its own (rejected) frame.
                wire_now = b"\x00" + wire
            else:
                wire_now = wire
            self.port.write(wire_now)
            deadline = time.monotonic() + timeout
            resend = False
            while not resend:
                frames = self._read_frames(deadline)
                if not frames:
                    self.stats.timeouts += 1
                    break
                for fr in frames:
                    if fr is None:  # corrupt: perhaps our reply; ask again at once (the device replays it)
                        resend = True
                        break
                    if fr.cmd == Cmd.BOOT:
                        self.stats.reboots_seen += 1
                        self._rebooted = True
                        try:
                            self.info = DeviceInfo.parse(fr.payload)
                        except ValueError:
                            pass
                        if cmd in (Cmd.LOAD_CHUNK, Cmd.LOAD_END):
                            raise DeviceRebooted()
                        resend = True  # the device lost our request when it reset
                        break
                    if _is_too_long(fr):  # sent with seq 0: the device could not read ours (it overflowed)
                        self.stats.link_error_replies += 1
                        too_long += 1
                        resend = True
                        break
                    if fr.seq != seq:
                        self.stats.foreign_replies += 1  # a late duplicate of an earlier reply
                        continue
                    if fr.cmd == Cmd.ERROR:
                        try:
                            err = DeviceError.parse(fr.payload)
                        except ValueError:
                            continue
                        if err.code in LINK_ERRORS:
                            self.stats.link_error_replies += 1
                            resend = True
                            break
                        if err.request != cmd:
                            self.stats.foreign_replies += 1
                            continue
                        return fr
                    if fr.cmd == (cmd | REPLY):
                        return fr
                    self.stats.foreign_replies += 1
        if too_long > self.retries:  # every attempt: not noise on the line, a frame the device cannot take
            raise DeviceLimitError(
                f"{cmd.name}: the device refused the {len(payload)}-byte payload as too long {too_long} times; "
                "its largest frame payload is "
                f"{self.info.max_payload if self.info else 'its NE_MAX_PAYLOAD'} B (rebuild it with a larger "
                "MAX_PAYLOAD, or send less)")
        raise LinkError(
            f"no valid reply to {cmd.name} after {self.retries + 1} attempts "
            f"(timeouts {self.stats.timeouts}, bad frames {self.stats.bad_frames}); check the cable/port"
        )

    @staticmethod
    def _check(fr: Frame, what: str) -> bytes:
        if fr.cmd == Cmd.ERROR:
            raise DeviceErrorReply(DeviceError.parse(fr.payload), f"{what}: ")
        return fr.payload

    # ---- commands ----------------------------------------------------------------------------

    def hello(self) -> DeviceInfo:
        self.info = DeviceInfo.parse(self._check(self.request(Cmd.HELLO), "HELLO"))
        return self.info

    def load(self, blob: bytes, attempts: int = 8) -> dict[str, int]:
        """Send a model blob in acknowledged chunks; restarts from the top if the device resets."""
        if self.info is None:
            self.hello()
        assert self.info is not None
        if len(blob) > self.info.blob_capacity:
            raise DeviceErrorReply(
                DeviceError(ErrorCode.BLOB_TOO_LARGE, Cmd.LOAD_BEGIN, self.info.blob_capacity),
                f"model blob of {len(blob)} bytes does not fit (capacity {self.info.blob_capacity}): ",
            )
        problems = fit_problems(self.info, *blob_needs(blob), name=f"the device ({self.info.platform})")
        if problems:  # refused here, with the numbers, rather than as BLOB_INVALID or a dropped frame
            raise DeviceLimitError("the model does not fit the device: " + "; ".join(problems))
        want = crc32(blob)
        step = self.chunk or (self.info.max_payload - 4)
        for _ in range(attempts):
            try:
                self._rebooted = False
                self._check(self.request(Cmd.LOAD_BEGIN, struct.pack("<II", len(blob), want)), "LOAD_BEGIN")
                for off in range(0, len(blob), step):
                    part = blob[off : off + step]
                    fr = self.request(Cmd.LOAD_CHUNK, struct.pack("<I", off) + part)
                    if fr.cmd == Cmd.ERROR and DeviceError.parse(fr.payload).code == ErrorCode.BAD_STATE:
                        raise DeviceRebooted()
                    ack = self._check(fr, "LOAD_CHUNK")
                    if struct.unpack("<IH", ack) != (off, len(part)):
                        raise DeviceRebooted()  # an acknowledgement for something else: start again
                fr = self.request(Cmd.LOAD_END)
                if fr.cmd == Cmd.ERROR and DeviceError.parse(fr.payload).code in (
                    ErrorCode.BAD_STATE,
                    ErrorCode.BLOB_CRC,
                ):
                    raise DeviceRebooted()
                crc, n_layers, _, in_size, out_size, arena = LOAD_END_REPLY.unpack(
                    self._check(fr, "LOAD_END")
                )
                if crc != want:
                    raise DeviceRebooted()
                self._blob, self._blob_crc = blob, want
                return {
                    "crc": crc,
                    "layers": n_layers,
                    "in_size": in_size,
                    "out_size": out_size,
                    "arena_bytes": arena,
                }
            except DeviceRebooted:
                self.stats.load_restarts += 1
        raise LinkError(
            f"LOAD did not complete in {attempts} attempts (device kept resetting or the link failed)"
        )

    def infer(self, x: bytes) -> InferResult:
        """One inference; the output is verified to come from this model and this input."""
        if self._blob is None:
            raise RuntimeError("load a model first")
        x = bytes(x)
        if self.info is not None and len(x) > self.info.max_payload:
            raise DeviceLimitError(f"INFER: the input is {len(x)} B but the device's largest frame payload is "
                                   f"{self.info.max_payload} B (NE_MAX_PAYLOAD; rebuild the firmware with a "
                                   "larger MAX_PAYLOAD)")
        want_in = crc32(x)
        for _ in range(self.retries + 1):
            t0 = time.perf_counter()
            fr = self.request(Cmd.INFER, x)
            dt = time.perf_counter() - t0
            if fr.cmd == Cmd.ERROR:
                err = DeviceError.parse(fr.payload)
                if err.code == ErrorCode.NO_MODEL:  # the device reset since LOAD: resync and retry
                    self.stats.reloads += 1
                    self.load(self._blob)
                    continue
                raise DeviceErrorReply(err, "INFER: ")
            rep = InferReply.parse(fr.payload)
            if rep.model_crc != self._blob_crc:
                self.stats.reloads += 1
                self.load(self._blob)
                continue
            if rep.input_crc != want_in:
                self.stats.foreign_replies += 1
                continue
            return InferResult(rep.output, rep.argmax, rep.cycles, rep.device_us, dt)
        raise LinkError("INFER: no verifiable result within the retries")

    def reset(self) -> None:
        """Ask the device to reset itself; waits for its BOOT announcement (or times out quietly)."""
        self._check(self.request(Cmd.RESET), "RESET")
        deadline = time.monotonic() + max(self.timeout, 2.0)
        while time.monotonic() < deadline:
            frames = self._read_frames(deadline)
            if any(f is not None and f.cmd == Cmd.BOOT for f in frames):
                self.stats.reboots_seen += 1
                break
        self._blob = None
