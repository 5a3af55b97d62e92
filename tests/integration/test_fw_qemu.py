"""The reference firmware on an emulated Cortex-M3 (QEMU lm3s6965evb, UART0 on a pty): real QEMU.

Skipped with the reason when qemu-system-arm or arm-none-eabi-gcc is missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from neuroedge.converters.mcu import quantize_model
from neuroedge.firmware_bridge import launch
from neuroedge.firmware_bridge import reference as R
from neuroedge.firmware_bridge.blob import c_array, pack
from neuroedge.firmware_bridge.faults import run_fault_campaign
from neuroedge.firmware_bridge.host import Device
from neuroedge.firmware_bridge.models import random_all_ops, trained_digits

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(launch.qemu_available() is not True, reason=str(launch.qemu_available())),
]


@pytest.fixture(scope="module")
def elf() -> Path:
    return launch.build("qemu")


@pytest.fixture(scope="module")
def qemu(elf: Path) -> Iterator[launch.DeviceProcess]:
    with launch.start("qemu", elf) as proc:  # one emulator for the module: boot is the slow part
        yield proc


@pytest.fixture(scope="module")
def mlp() -> tuple:
    model, data = trained_digits("mlp")
    q = quantize_model(model, data["x_train"][:256])
    xq = R.quantize(data["x_test"], q.in_scale, q.in_zero_point)
    return model, data, q, xq


def test_firmware_core_fits_16_kib_of_flash(elf: Path) -> None:
    size = launch.elf_size(elf)
    print(f"Cortex-M3 firmware: {size}")
    assert size["flash_bytes"] < 16 * 1024
    assert size["ram_bytes"] <= 64 * 1024


def test_digits_mlp_bit_exact_on_the_whole_test_set(qemu, mlp) -> None:
    import torch

    model, data, q, xq = mlp
    with Device.open(qemu.url, timeout=2.0) as dev:
        info = dev.hello()
        assert info.platform == "lm3s6965" and info.clock_hz == 50_000_000
        dev.load(pack(q))
        rows = [dev.infer(x.tobytes()) for x in xq]
    got = np.stack([np.frombuffer(r.output, np.int8) for r in rows])
    np.testing.assert_array_equal(got, R.run(q, xq))
    with torch.inference_mode():
        agree = (
            np.array([r.argmax for r in rows]) == model(torch.from_numpy(data["x_test"])).argmax(1).numpy()
        )
    print(
        f"QEMU: {len(xq)} samples bit-exact; top-1 agreement with float {agree.mean():.4f}; "
        f"emulator time/inference p50 {np.median([r.device_us for r in rows])} us (not cycle-accurate)"
    )
    assert np.median([r.cycles for r in rows]) > 0  # the emulated SysTick ran (timing is not cycle-accurate)


def test_every_kernel_bit_exact_on_cortex_m3(qemu) -> None:
    m = random_all_ops(11)
    x = np.random.default_rng(11).integers(-128, 128, (150, 9 * 9 * 3)).astype(np.int8)
    with Device.open(qemu.url, timeout=2.0) as dev:
        dev.load(pack(m))
        got = np.stack([np.frombuffer(dev.infer(row.tobytes()).output, np.int8) for row in x])
    np.testing.assert_array_equal(got, R.run(m, x))


def test_digits_cnn_bit_exact(qemu) -> None:
    model, data = trained_digits("cnn", steps=60)
    q = quantize_model(model, data["x_train"][:256])
    xq = np.ascontiguousarray(
        R.quantize(data["x_test"][:200], q.in_scale, q.in_zero_point).transpose(0, 2, 3, 1)
    )
    xq = xq.reshape(len(xq), -1)
    with Device.open(qemu.url, timeout=2.0) as dev:
        dev.load(pack(q))
        got = np.stack([np.frombuffer(dev.infer(row.tobytes()).output, np.int8) for row in xq])
    np.testing.assert_array_equal(got, R.run(q, xq))


def test_fault_injection_and_reset_mid_load_on_qemu(qemu, mlp) -> None:
    _, _, q, xq = mlp
    res = run_fault_campaign(qemu, q, xq[:80], timeout=0.4, loads=3, seed=5)
    print(res)
    assert res["wrong"] == 0
    assert res["faults"]["injected"] >= 30 and res["faults"]["reset_mid_load"] >= 1
    assert res["correct"] >= 0.9 * 80


def test_hard_reset_resync_on_qemu(qemu, mlp) -> None:
    _, _, q, xq = mlp
    ref = R.run(q, xq[:10])
    with Device.open(qemu.url, timeout=1.0) as dev:
        dev.load(pack(q))
        assert dev.infer(xq[0].tobytes()).output == ref[0].tobytes()
        qemu.reset()  # QEMU monitor system_reset: the chip reboots, RAM model gone
        time.sleep(0.2)
        for i in range(1, 10):
            assert dev.infer(xq[i].tobytes()).output == ref[i].tobytes()
        assert dev.stats.reloads >= 1
        dev.reset()  # the RESET command: AIRCR.SYSRESETREQ on the chip
        assert dev.hello().model_loaded is False


def test_linked_model_boots_loaded(tmp_path: Path, mlp) -> None:
    """The converter's C array linked into flash: the firmware boots with the model, no LOAD needed."""
    _, _, q, xq = mlp
    blob = pack(q)
    src = tmp_path / "model_blob.c"
    src.write_text(c_array(blob))
    elf = launch.build("qemu", model_c=src, build_dir=tmp_path / "build")
    size = launch.elf_size(elf)
    assert size["flash_bytes"] >= len(blob)
    with launch.start("qemu", elf) as proc, Device.open(proc.url, timeout=2.0) as dev:
        info = dev.hello()
        assert info.model_loaded and "linked-model" in info.to_json()["capabilities"]
        from neuroedge.firmware_bridge.protocol import crc32

        assert info.model_crc == crc32(blob)
        dev._blob, dev._blob_crc = blob, crc32(blob)  # already on the device: infer without LOAD
        assert dev.infer(xq[3].tobytes()).output == R.run(q, xq[3:4])[0].tobytes()
        assert dev.stats.reloads == 0
