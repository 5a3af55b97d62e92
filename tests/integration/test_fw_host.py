"""The firmware's C core built for the host and served on a pty: a real process, no mocks.

Covers: bit-exact outputs vs the Python reference (trained digits MLP and CNN on the whole test set,
and a random model using every kernel), every documented ERROR code, retransmission replay, fault
injection through a pty proxy (0 wrong outputs), device reset resync, and the mcu target end to end.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import serial

from neuroedge.converters.mcu import CONVERTER, McuParams, quantize_model
from neuroedge.firmware_bridge import launch
from neuroedge.firmware_bridge import reference as R
from neuroedge.firmware_bridge.blob import Dense, Model, pack
from neuroedge.firmware_bridge.devices import list_devices
from neuroedge.firmware_bridge.faults import run_fault_campaign
from neuroedge.firmware_bridge.host import Device, DeviceErrorReply, DeviceLimitError
from neuroedge.firmware_bridge.models import random_all_ops, trained_digits
from neuroedge.firmware_bridge.protocol import (
    Cmd,
    DeviceError,
    ErrorCode,
    Frame,
    FrameReader,
    cobs_encode,
    crc32,
    decode_frame,
)

pytestmark = pytest.mark.skipif(
    launch.host_build_available() is not True, reason=str(launch.host_build_available())
)


@pytest.fixture(scope="module")
def host_binary() -> Path:
    return launch.build("host")  # once per source hash (cached), so once per session at most


@pytest.fixture
def device(host_binary: Path) -> Iterator[launch.DeviceProcess]:
    with launch.start("host", host_binary) as proc:
        yield proc


@pytest.fixture(scope="module")
def digits_models() -> dict[str, tuple]:
    out = {}
    for kind in ("mlp", "cnn"):
        model, data = trained_digits(kind, steps=150 if kind == "mlp" else 60)
        q = quantize_model(model, data["x_train"][:256])
        xq = R.quantize(data["x_test"], q.in_scale, q.in_zero_point)
        if xq.ndim == 4:
            xq = xq.transpose(0, 2, 3, 1)
        xq = np.ascontiguousarray(xq.reshape(len(xq), -1))
        out[kind] = (model, data, q, xq)
    return out


def run_all(dev: Device, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    outs, argmaxes = [], []
    for row in xq:
        r = dev.infer(row.tobytes())
        outs.append(np.frombuffer(r.output, np.int8))
        argmaxes.append(r.argmax)
    return np.stack(outs), np.array(argmaxes)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_digits_bit_exact_on_the_whole_test_set(device, digits_models, kind: str) -> None:
    import torch

    model, data, q, xq = digits_models[kind]
    with Device.open(device.url, timeout=0.5) as dev:
        info = dev.hello()
        assert info.platform == "host-posix" and info.proto_version == 1
        dev.load(pack(q))
        got, argmax = run_all(dev, xq)
    ref = R.run(q, xq)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(argmax, R.argmax(ref))
    with torch.inference_mode():
        float_pred = model(torch.from_numpy(data["x_test"])).argmax(1).numpy()
    agreement = float((argmax == float_pred).mean())
    print(f"{kind}: {len(xq)} samples bit-exact; top-1 agreement with float {agreement:.4f}")
    assert agreement >= 0.95


def test_every_kernel_bit_exact_on_random_inputs(device) -> None:
    m = random_all_ops(7)
    x = np.random.default_rng(7).integers(-128, 128, (500, 9 * 9 * 3)).astype(np.int8)
    with Device.open(device.url, timeout=0.5) as dev:
        dev.load(pack(m))
        got, _ = run_all(dev, x)
    np.testing.assert_array_equal(got, R.run(m, x))


# ---- error codes, on raw frames --------------------------------------------------------------


class Raw:
    """A bare port to send hand-made bytes and read decoded replies."""

    def __init__(self, url: str) -> None:
        self.port = serial.Serial(url, timeout=0.05)
        self.reader = FrameReader()
        time.sleep(0.05)
        self.port.reset_input_buffer()

    def send(self, data: bytes) -> Frame:
        self.port.write(data)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            for enc in self.reader.feed(self.port.read(256)):
                fr = decode_frame(enc)
                if fr.cmd != Cmd.BOOT:
                    return fr
        raise AssertionError("no reply")

    def error_of(self, data: bytes) -> ErrorCode:
        fr = self.send(data)
        assert fr.cmd == Cmd.ERROR, fr
        return ErrorCode(DeviceError.parse(fr.payload).code)


def tiny_model() -> Model:
    layer = Dense(
        (1, 1, 8),
        (1, 1, 3),
        bias=np.arange(3),
        mult=np.full(3, 2**30),
        shift=np.full(3, -4),
        weights=np.arange(24, dtype=np.int8).reshape(3, 8),
    )
    return Model([layer], 1.0, 0, 1.0, 0)


def _raw(seq: int, cmd: int, payload: bytes, crc: int | None = None) -> bytes:
    head = struct.pack("<BBH", seq, cmd, len(payload)) + payload
    return head + struct.pack("<I", crc32(head) if crc is None else crc)


def test_documented_error_codes(device) -> None:
    raw = Raw(device.url)
    info = raw.send(Frame(1, Cmd.HELLO).encode())
    assert info.cmd == Cmd.HELLO | 0x80 and info.seq == 1
    cap = struct.unpack_from("<I", info.payload, 12)[0]
    assert (
        raw.error_of(Frame(2, Cmd.LOAD_BEGIN, struct.pack("<II", cap + 1, 0)).encode())
        == ErrorCode.BLOB_TOO_LARGE
    )
    assert raw.error_of(Frame(3, 0x33).encode()) == ErrorCode.UNKNOWN_CMD
    assert raw.error_of(cobs_encode(_raw(4, Cmd.HELLO, b"")[:-2]) + b"\x00") == ErrorCode.TRUNCATED
    assert raw.error_of(cobs_encode(_raw(5, Cmd.HELLO, b"", crc=0xBADC0DE)) + b"\x00") == ErrorCode.BAD_CRC
    assert raw.error_of(cobs_encode(_raw(6, Cmd.HELLO, b"") + b"xx") + b"\x00") == ErrorCode.BAD_LENGTH
    assert raw.error_of(b"\x09\x01\x02\x00") == ErrorCode.BAD_COBS
    assert raw.error_of(b"\x07" * 3000 + b"\x00") == ErrorCode.TOO_LONG
    assert raw.error_of(Frame(7, Cmd.INFER, b"\x01" * 64).encode()) == ErrorCode.NO_MODEL
    assert (
        raw.error_of(Frame(8, Cmd.LOAD_CHUNK, struct.pack("<I", 0) + b"ab").encode()) == ErrorCode.BAD_STATE
    )
    blob = pack(tiny_model())  # fits one frame
    assert raw.send(Frame(9, Cmd.LOAD_BEGIN, struct.pack("<II", len(blob), crc32(blob))).encode()).cmd == 0x82
    assert (
        raw.error_of(Frame(10, Cmd.LOAD_CHUNK, struct.pack("<I", len(blob) - 1) + b"ab").encode())
        == ErrorCode.CHUNK_RANGE
    )
    assert raw.send(Frame(11, Cmd.LOAD_CHUNK, struct.pack("<I", 0) + blob).encode()).cmd == 0x83
    bad = bytearray(blob)
    bad[0] ^= 0xFF  # right CRC over a wrong blob: it must fail validation, not run
    raw.send(Frame(12, Cmd.LOAD_BEGIN, struct.pack("<II", len(bad), crc32(bytes(bad)))).encode())
    raw.send(Frame(13, Cmd.LOAD_CHUNK, struct.pack("<I", 0) + bytes(bad)).encode())
    assert raw.error_of(Frame(14, Cmd.LOAD_END).encode()) == ErrorCode.BLOB_INVALID
    raw.send(Frame(15, Cmd.LOAD_BEGIN, struct.pack("<II", len(blob), crc32(blob) ^ 1)).encode())
    raw.send(Frame(16, Cmd.LOAD_CHUNK, struct.pack("<I", 0) + blob).encode())
    assert raw.error_of(Frame(17, Cmd.LOAD_END).encode()) == ErrorCode.BLOB_CRC
    raw.send(Frame(18, Cmd.LOAD_BEGIN, struct.pack("<II", len(blob), crc32(blob))).encode())
    raw.send(Frame(19, Cmd.LOAD_CHUNK, struct.pack("<I", 0) + blob).encode())
    assert raw.send(Frame(20, Cmd.LOAD_END).encode()).cmd == 0x84
    assert raw.error_of(Frame(21, Cmd.INFER, b"\x01" * 5).encode()) == ErrorCode.BAD_INPUT_SIZE
    x = bytes([1, 2, 3, 4, 5, 6, 7, 8])
    reply = raw.send(Frame(22, Cmd.INFER, x).encode())
    want = R.run(tiny_model(), np.frombuffer(x, np.int8)[None])[0].tobytes()
    assert reply.cmd == 0x85 and reply.payload[20:] == want
    # a retransmission (same seq, same bytes) is answered from the cache, byte for byte
    req = Frame(23, Cmd.INFER, x).encode()
    assert raw.send(req) == raw.send(req)


def test_driver_refuses_an_oversized_model_before_sending(device) -> None:
    with Device.open(device.url, timeout=0.5) as dev:
        cap = dev.hello().blob_capacity
        with pytest.raises(DeviceErrorReply, match="BLOB_TOO_LARGE"):
            dev.load(bytes(cap + 4))


# ---- faults and resets -------------------------------------------------------------------------


def test_host_build_says_which_limit_it_refused(device) -> None:
    """A 3,072-byte input: refused at LOAD with the payload limit, not 'no valid reply after 11 attempts'."""
    rng = np.random.default_rng(0)
    wide = Dense((1, 1, 3072), (1, 1, 4), weights=rng.integers(-3, 3, (4, 3072)).astype(np.int8),
                 bias=np.zeros(4), mult=np.full(4, 2**30), shift=np.full(4, -8))
    with Device.open(device.url, timeout=0.5, retries=2) as dev:
        with pytest.raises(DeviceLimitError, match=r"input is 3072 B but the largest frame payload of the device "
                                                   r"\(host-posix\) is 1024 B: raise the firmware's NE_MAX_PAYLOAD"):
            dev.load(pack(Model([wide], 1.0, 0, 1.0, 0)))
        dev.load(pack(tiny_model()))
        with pytest.raises(DeviceLimitError, match="INFER: the input is 3072 B .* payload is 1024 B"):
            dev.infer(bytes(3072))
        dev.info = None  # as if HELLO had not been asked: the device's own TOO_LONG reply names the limit
        with pytest.raises(DeviceLimitError, match="refused the 3072-byte payload as too long 3 times"):
            dev.infer(bytes(3072))
        assert dev.infer(bytes(8)).output  # the link is fine afterwards


def test_fault_injection_never_yields_a_wrong_output(device, digits_models) -> None:
    _, _, q, xq = digits_models["mlp"]
    res = run_fault_campaign(device, q, xq[:300], timeout=0.15)
    print(res)
    assert res["wrong"] == 0
    assert res["faults"]["injected"] >= 100 and res["faults"]["reset_mid_load"] >= 1
    assert res["correct"] >= 0.95 * 300 and res["loads_ok"] >= 1


def test_device_reset_resync(device, digits_models) -> None:
    _, _, q, xq = digits_models["mlp"]
    ref = R.run(q, xq[:20])
    with Device.open(device.url, timeout=0.3) as dev:
        dev.load(pack(q))
        assert dev.infer(xq[0].tobytes()).output == ref[0].tobytes()
        device.reset()  # hard reset: the model is gone, the driver must notice and reload
        time.sleep(0.1)
        for i in range(1, 20):
            assert dev.infer(xq[i].tobytes()).output == ref[i].tobytes()
        assert dev.stats.reloads >= 1 and dev.stats.reboots_seen + dev.stats.reloads >= 1
        dev.reset()  # the RESET command: acknowledged, then BOOT
        assert dev.stats.reboots_seen >= 1
        assert dev.hello().model_loaded is False


def test_devices_lists_ports_and_finds_the_device(device) -> None:
    rows = list_devices(extra=[device.url])
    mine = [r for r in rows if r["port"] == device.url]
    assert mine and mine[0]["answers_hello"] and mine[0]["info"]["platform"] == "host-posix"


# ---- the target, through the registry -----------------------------------------------------------


def test_mcu_target_on_host(tmp_path: Path, digits_models, host_binary: Path) -> None:
    from neuroedge.bench import BenchConfig
    from neuroedge.registry import open_runner

    model, data, _, _ = digits_models["mlp"]
    bundle = CONVERTER.convert(model, McuParams(calibration=_cal(tmp_path)[0], check=_cal(tmp_path)[1]), tmp_path / "mlp", False)
    runner = open_runner(bundle, "mcu", {"device": "host://"})
    try:
        proc = runner.process
        x = data["x_test"][:50]
        (out,) = runner.run([x])  # float in: quantised with the bundle's input scale
        q = R.quantize(
            x, bundle.manifest.inputs[0].quant.scale, bundle.manifest.inputs[0].quant.zero_point
        )
        from neuroedge.firmware_bridge.blob import unpack

        np.testing.assert_array_equal(out, R.run(unpack(bundle.main_file.read_bytes()), q))
        report = runner.benchmark([q[:1]], BenchConfig(iterations=30, warmup=3, min_duration_s=0))
        assert report.clock == "device" and report.iterations >= 30
        assert "host-build" in report.settings["timing"] and report.settings["roundtrip_ms"]["p50"] > 0
        res = runner.resources()
        assert res["flash_model_bytes"] == bundle.main_file.stat().st_size
    finally:
        runner.close()
    assert not proc.alive()


def test_c_fuzzer_under_asan_and_ubsan(tmp_path: Path) -> None:
    """The protocol engine and blob validator in C: random bytes, mutated frames, and LOADs of mutated
    (correctly CRC'd) blobs then INFER, under AddressSanitizer + UBSan. No crash, no hang."""
    import subprocess

    build = subprocess.run(
        ["make", "-C", str(launch.FIRMWARE_DIR), "fuzz", f"BUILD={tmp_path}"], capture_output=True, text=True
    )
    if build.returncode != 0:
        if "sanitize" in build.stderr or "asan" in build.stderr:
            pytest.skip("this gcc cannot link -fsanitize=address,undefined (install libasan/libubsan)")
        raise AssertionError(build.stderr)
    seed = tmp_path / "seed.blob"
    seed.write_bytes(pack(random_all_ops(0)))
    run = subprocess.run(
        [str(tmp_path / "fuzz" / "ne_fuzz"), "20000", "5", str(seed)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "no fault" in run.stdout


def _cal(tmp_path: Path) -> tuple[str, str]:
    from tests.conftest import digits_files

    return digits_files(tmp_path / "digits")
