"""A fault-injecting serial proxy: host driver <-> (this) <-> device, on pseudo-terminals.

The proxy owns a new pty; the driver opens its slave path (``proxy.url``) as if it were the device.
Each frame (bytes up to a 0x00 delimiter) passing either way may, at the configured rates, get
bits flipped, a byte dropped, be dropped whole, be duplicated, or get garbage inserted; and a LOAD_CHUNK
on its way to the device may trigger a hard device reset first (reset mid-LOAD). Every injected fault
is counted, so a test can assert that N faults produced zero wrong outputs.
"""

from __future__ import annotations

import os
import random
import select
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuroedge.firmware_bridge import reference
from neuroedge.firmware_bridge.blob import Model, pack
from neuroedge.firmware_bridge.host import Device, DeviceErrorReply, LinkError
from neuroedge.firmware_bridge.protocol import Cmd, CobsError, cobs_decode


@dataclass(frozen=True)
class FaultRates:
    """Per-frame probabilities of each fault (independent draws)."""

    bit_flip: float = 0.0
    drop_byte: float = 0.0
    drop_frame: float = 0.0
    duplicate: float = 0.0
    garbage: float = 0.0
    reset_mid_load: float = 0.0  # per LOAD_CHUNK frame, host -> device only
    reset_at_chunks: tuple[
        int, ...
    ] = ()  # also reset at these LOAD_CHUNK frames (0-based), deterministically


FAULT_KINDS = ("bit_flip", "drop_byte", "drop_frame", "duplicate", "garbage", "reset_mid_load")


@dataclass
class FaultCounts:
    """Frames seen, and how many faults of each kind (``FAULT_KINDS``, as in ``FaultRates``) were injected."""

    frames: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))

    def add(self, kind: str) -> None:
        self.by_kind[kind] += 1

    def __getattr__(self, kind: str) -> int:  # counts.drop_frame reads as before
        if kind in FAULT_KINDS:
            return self.by_kind[kind]
        raise AttributeError(kind)

    @property
    def injected(self) -> int:
        return sum(self.by_kind.values())

    def to_json(self) -> dict[str, int]:
        return {"frames": self.frames, **self.by_kind, "injected": self.injected}


@dataclass
class FaultProxy:
    device_path: str
    rates: FaultRates
    seed: int = 0
    reset_device: Callable[[], None] | None = None
    counts: FaultCounts = field(default_factory=FaultCounts)
    enabled: bool = True

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._chunks_seen = 0
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # held open: raw mode sticks while the driver connects and leaves
        self.url = os.ttyname(self._slave)
        self._dev = os.open(self.device_path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._dev)
        self._threads = [
            threading.Thread(target=self._pump, args=(self._master, self._dev, True), daemon=True),
            threading.Thread(target=self._pump, args=(self._dev, self._master, False), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _mangle(self, frame: bytes, to_device: bool) -> list[bytes]:
        """The bytes to forward for one frame (its delimiter included)."""
        r, rates = self._rng, self.rates
        with self._lock:
            self.counts.frames += 1
            if not self.enabled:
                return [frame]
            if to_device and self.reset_device and (rates.reset_mid_load or rates.reset_at_chunks):
                try:
                    raw = cobs_decode(frame[:-1])
                    is_chunk = len(raw) > 1 and raw[1] == Cmd.LOAD_CHUNK
                except CobsError:
                    is_chunk = False
                if is_chunk:
                    planned = self._chunks_seen in rates.reset_at_chunks
                    self._chunks_seen += 1
                    if planned or r.random() < rates.reset_mid_load:
                        self.counts.add("reset_mid_load")
                        self.reset_device()
            if r.random() < rates.drop_frame:
                self.counts.add("drop_frame")
                return []
            data = bytearray(frame)
            if r.random() < rates.bit_flip:
                self.counts.add("bit_flip")
                for _ in range(r.randint(1, 3)):
                    data[r.randrange(len(data))] ^= 1 << r.randrange(8)
            if r.random() < rates.drop_byte and len(data) > 1:
                self.counts.add("drop_byte")
                del data[r.randrange(len(data))]
            if r.random() < rates.garbage:
                self.counts.add("garbage")
                pos = r.randrange(len(data) + 1)
                data[pos:pos] = bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
            out = [bytes(data)]
            if r.random() < rates.duplicate:
                self.counts.add("duplicate")
                out.append(bytes(data))
            return out

    def _pump(self, src: int, dst: int, to_device: bool) -> None:
        pending = bytearray()
        while not self._stop.is_set():
            ready, _, _ = select.select([src], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(src, 4096)
            except OSError:  # the other end is not open (yet): wait for it
                self._stop.wait(0.01)
                continue
            pending += chunk
            while True:
                i = pending.find(0)
                if i < 0:
                    break
                frame, pending = bytes(pending[: i + 1]), pending[i + 1 :]
                for piece in self._mangle(frame, to_device):
                    try:
                        os.write(dst, piece)
                    except OSError:
                        pass

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(1.0)
        for fd in (self._master, self._slave, self._dev):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


DEFAULT_RATES = FaultRates(
    bit_flip=0.04,
    drop_byte=0.03,
    drop_frame=0.03,
    duplicate=0.04,
    garbage=0.03,
    reset_mid_load=0.08,
    reset_at_chunks=(2,),
)


def run_fault_campaign(
    proc: Any,
    model: Model,
    xq: np.ndarray,
    timeout: float,
    rates: FaultRates = DEFAULT_RATES,
    seed: int = 3,
    loads: int = 4,
    chunk: int = 512,
) -> dict[str, Any]:
    """LOADs (with resets mid-LOAD) and one INFER per row of ``xq`` through a fault proxy in front of
    ``proc`` (a launch.DeviceProcess). Every output is checked against the reference: the result
    counts correct outputs, loud failures (LinkError / device ERROR) and wrong outputs (must be 0)."""
    ref = reference.run(model, xq)
    out: dict[str, Any] = {"wrong": 0, "correct": 0, "failed_loudly": 0, "loads_ok": 0, "loads_failed": 0}
    with (
        FaultProxy(proc.url, rates, seed=seed, reset_device=proc.reset) as proxy,
        Device.open(proxy.url, timeout=timeout, retries=12) as dev,
    ):
        dev.chunk = chunk  # several LOAD frames per model: chances for a reset mid-LOAD
        for _ in range(loads):
            try:
                dev.load(pack(model), attempts=12)
                out["loads_ok"] += 1
            except LinkError:
                out["loads_failed"] += 1
        for i in range(len(xq)):
            try:
                r = dev.infer(xq[i].tobytes())
            except (LinkError, DeviceErrorReply):
                out["failed_loudly"] += 1
                continue
            out["correct" if np.array_equal(np.frombuffer(r.output, np.int8), ref[i]) else "wrong"] += 1
        out["faults"] = proxy.counts.to_json()
        out["link"] = dev.stats.to_json()
    return out
