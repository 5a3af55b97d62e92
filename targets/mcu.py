"""Target ``mcu``: runs an ``mcu-blob`` bundle on a microcontroller over serial, or emulated.

Options:

* ``device``: ``serial:///dev/ttyACM0?baud=115200`` (a real board flashed with the reference firmware;
  any pyserial URL or a pty path works too), ``qemu://lm3s6965evb`` (the firmware on an emulated
  Cortex-M3, started and stopped here), or ``host://`` (the same C core built with gcc, on a pty).
  Default: QEMU when qemu-system-arm and arm-none-eabi-gcc are installed, else ``host://``.
* ``timeout`` (s, per reply) and ``retries`` (per request) for the link.

Outputs are bit-exact with ``neuroedge.firmware_bridge.reference``. Timings: ``benchmark`` reports the
time the device measured around the kernels (``clock="device"``) and the host round trip in its
settings. Under QEMU those are *emulator* timings (QEMU is not cycle-accurate), labelled so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from neuroedge.bench import BenchConfig, LatencyReport, host_info
from neuroedge.bundle import Bundle, BundleError, TensorSpec
from neuroedge.firmware_bridge import launch
from neuroedge.firmware_bridge.blob import BlobError, unpack
from neuroedge.firmware_bridge.host import Device
from neuroedge.firmware_bridge.reference import quantize
from neuroedge.registry import Target, opt


@dataclass(frozen=True)
class McuOptions:
    device: str | None = opt(None, "serial:///dev/ttyACM0?baud=115200, qemu://lm3s6965evb or host:// "
                                   "(default: QEMU if installed, else host://)")
    timeout: float | None = opt(None, "seconds to wait for each reply (default 2 on QEMU, 0.5 on host://)")
    retries: int = opt(10, "retries per request on a dropped or corrupt frame")

    def __post_init__(self) -> None:
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {self.timeout}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")


def available() -> Literal[True] | str:
    try:
        import serial  # noqa: F401
    except ImportError:
        return "pyserial is not installed: pip install pyserial"
    if launch.host_build_available() is not True and launch.qemu_available() is not True:
        return (
            f"no device to run on here: {launch.qemu_available()} (or give device=serial://... for a board)"
        )
    return True


def default_device() -> str:
    return "qemu://lm3s6965evb" if launch.qemu_available() is True else "host://"


class McuRunner:
    target = "mcu"

    def __init__(self, bundle: Bundle, device: str, timeout: float | None = None, retries: int = 10) -> None:
        self.bundle = bundle
        self.inputs: tuple[TensorSpec, ...] = bundle.manifest.inputs
        self.outputs: tuple[TensorSpec, ...] = bundle.manifest.outputs
        self.blob = bundle.main_file.read_bytes()
        try:
            self.model = unpack(self.blob)
        except BlobError as exc:
            raise BundleError(f"{bundle.main_file}: {exc}") from None
        self.device_url = device
        self.process: launch.DeviceProcess | None = None
        if device.startswith("host://"):
            self.process = launch.start("host")
            url = self.process.url
        elif device.startswith("qemu://"):
            machine = device[len("qemu://") :].strip("/") or "lm3s6965evb"
            if machine != "lm3s6965evb":
                raise ValueError(f"mcu: QEMU machine {machine!r} is not supported; use qemu://lm3s6965evb")
            status = launch.qemu_available()
            if status is not True:
                raise RuntimeError(f"mcu: cannot emulate: {status}")
            self.process = launch.start("qemu")
            url = self.process.url
        else:
            url = device
        if timeout is None:
            timeout = 2.0 if self.process is None or self.process.kind == "qemu" else 0.5
        try:
            self.dev = Device.open(url, timeout=timeout, retries=retries)
            self.info = self.dev.hello()
            self.load_info = self.dev.load(self.blob)
        except BaseException:
            self.close()
            raise

    # ---- inference ---------------------------------------------------------------------------

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        """(N, ...) int8 in the firmware's HWC order; float inputs are quantised with the bundle's scale."""
        spec = self.inputs[0]
        x = np.asarray(x)
        if np.issubdtype(x.dtype, np.floating):
            x = quantize(x, spec.quant.scale, spec.quant.zero_point)
        if x.dtype != np.int8:
            raise ValueError(f"input {spec.name!r}: dtype {x.dtype}; give int8 (or float to be quantised)")
        want = tuple(d for d in spec.shape[1:])
        if tuple(x.shape[1:]) != want:
            if tuple(x.shape) == want:
                x = x[None]
            else:
                raise ValueError(
                    f"input {spec.name!r}: shape {list(x.shape)} does not match {list(spec.shape)}"
                )
        if x.ndim == 4:  # NCHW (torch) -> NHWC (firmware)
            x = x.transpose(0, 2, 3, 1)
        return np.ascontiguousarray(x.reshape(x.shape[0], -1))

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != 1:
            raise ValueError(f"expected 1 input, got {len(inputs)}")
        x = self._prepare(inputs[0])
        out = np.empty((x.shape[0], self.model.out_size), np.int8)
        for i, row in enumerate(x):
            res = self.dev.infer(row.tobytes())
            out[i] = np.frombuffer(res.output, np.int8)
        return [out]

    def benchmark(self, inputs: list[np.ndarray], config: BenchConfig = BenchConfig()) -> LatencyReport:  # noqa: B008
        """Per inference: the device's own timer around the kernels, and the host's round trip."""
        x = self._prepare(inputs[0])[0].tobytes()
        for _ in range(config.warmup):
            self.dev.infer(x)
        device_ms, roundtrip_ms = [], []
        import time

        t_end = time.monotonic() + config.min_duration_s
        while len(device_ms) < config.iterations or time.monotonic() < t_end:
            r = self.dev.infer(x)
            device_ms.append(r.cycles / self.info.clock_hz * 1e3)
            roundtrip_ms.append(r.roundtrip_s * 1e3)
        rt = np.asarray(roundtrip_ms)
        settings = {
            **self.settings(),
            "roundtrip_ms": {
                "p50": float(np.percentile(rt, 50)),
                "p99": float(np.percentile(rt, 99)),
                "mean": float(rt.mean()),
            },
            "link": self.dev.stats.to_json(),
        }
        return LatencyReport(
            target=self.target,
            samples_ms=np.asarray(device_ms),
            warmup_iterations=config.warmup,
            batch=1,
            settings=settings,
            host=host_info(),
            clock="device",
        )

    # ---- description -------------------------------------------------------------------------

    def timing_label(self) -> str:
        if self.info.platform_id == 2:
            return "emulator timing (QEMU lm3s6965evb; not cycle-accurate, not a chip's timing)"
        if self.info.platform_id == 1:
            return "host-build timing (the C core on this CPU, not a microcontroller)"
        return f"device timing ({self.info.platform}, {self.info.clock_hz / 1e6:g} MHz counter)"

    def settings(self) -> dict[str, Any]:
        return {
            "device": self.device_url,
            "platform": self.info.platform,
            "firmware": self.info.firmware_version,
            "clock_hz": self.info.clock_hz,
            "timing": self.timing_label(),
            "max_payload": self.info.max_payload,
        }

    def resources(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "flash_model_bytes": len(self.blob),
            "model_ram_bytes": len(self.blob) + self.model.arena_bytes,
            "arena_bytes": self.model.arena_bytes,
            "macs": self.model.macs,
            "device_blob_capacity": self.info.blob_capacity,
        }
        if launch.qemu_available() is True:
            size = launch.elf_size(launch.build("qemu"))
            out.update(
                {
                    "flash_core_bytes": size["flash_bytes"],
                    "ram_bytes": size["ram_bytes"],
                    "size_of": "reference firmware for Cortex-M3 (arm-none-eabi-size; RAM includes the "
                    "LOAD buffer, arena and 2 KiB stack)",
                }
            )
        else:
            out["flash_core_bytes"] = None
            out["size_note"] = f"arm-none-eabi-size unavailable: {launch.qemu_available()}"
        return out

    def close(self) -> None:
        dev = getattr(self, "dev", None)
        if dev is not None:
            dev.close()
            self.dev = None
        if self.process is not None:
            self.process.close()
            self.process = None


def open_runner(bundle: Bundle, options: McuOptions) -> McuRunner:
    """INT8 firmware on a microcontroller over serial: a board, QEMU Cortex-M3, or the host build"""
    return McuRunner(bundle, options.device or default_device(), timeout=options.timeout, retries=options.retries)


TARGET = Target("mcu", ("mcu-blob",), open_runner, McuOptions, available, bench_resources={"mcu": 1}, bench_rounds=3)
