"""Builds the reference firmware and starts it as a device: the host build on a pty, or QEMU.

``build(kind)`` runs the firmware Makefile into a cache folder keyed by the sources' hash, so a
build happens once per source change. ``start(kind)`` returns a ``DeviceProcess``: a URL the host
driver opens, a hard ``reset()`` (SIGUSR1 to the host build, ``system_reset`` on QEMU's monitor),
and ``close()``, which stops the process.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"
QEMU = "qemu-system-arm"
ARM_CC = "arm-none-eabi-gcc"
ARM_SIZE = "arm-none-eabi-size"
APT_HINT = "apt-get install qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi"
Kind = Literal["host", "qemu"]


class FirmwareError(RuntimeError):
    pass


def host_build_available() -> bool | str:
    missing = [tool for tool in ("make", os.environ.get("CC", "gcc")) if shutil.which(tool) is None]
    return True if not missing else f"{', '.join(missing)} not found; install build-essential"


def qemu_available() -> bool | str:
    """True, or the one-line reason QEMU emulation cannot run here."""
    missing = [tool for tool in (QEMU, ARM_CC, "make") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found; {APT_HINT}"
    return True


def _sources_hash(extra: bytes = b"") -> str:
    h = hashlib.sha256(extra)
    for p in sorted(FIRMWARE_DIR.rglob("*")):
        if p.is_file() and "build" not in p.relative_to(FIRMWARE_DIR).parts:
            h.update(str(p.relative_to(FIRMWARE_DIR)).encode() + p.read_bytes())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get("NEUROEDGE_FW_BUILD", Path.home() / ".cache" / "neuroedge" / "firmware"))


def build(kind: Kind, model_c: Path | None = None, build_dir: Path | None = None) -> Path:
    """Build the firmware (once per source hash) and return the binary (host) or ELF (qemu)."""
    extra = model_c.read_bytes() if model_c else b""
    out = build_dir or cache_root() / f"{kind}-{_sources_hash(extra)}"
    target = out / ("host/ne_fw_host" if kind == "host" else "lm3s6965/ne_fw.elf")
    if target.is_file():
        return target
    status = host_build_available() if kind == "host" else qemu_available()
    if status is not True:
        raise FirmwareError(f"cannot build the {kind} firmware: {status}")
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["make", "-C", str(FIRMWARE_DIR), "host" if kind == "host" else "qemu", f"BUILD={out}"]
    if model_c:
        cmd.append(f"MODEL_C={Path(model_c).resolve()}")
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise FirmwareError(f"firmware build failed ({' '.join(cmd)}):\n{res.stdout}{res.stderr}")
    return target


def elf_size(elf: Path) -> dict[str, int]:
    """``arm-none-eabi-size`` of an image: text, data, bss; flash = text + data, RAM = data + bss."""
    res = subprocess.run([ARM_SIZE, str(elf)], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in res.stdout.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss, "flash_bytes": text + data, "ram_bytes": data + bss}


@dataclass
class DeviceProcess:
    """A running device: ``url`` for the driver, ``reset()`` for a hard reset, ``close()`` to stop."""

    kind: Kind
    url: str
    proc: subprocess.Popen
    monitor: Path | None = None
    log: list[str] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory | None = None

    def reset(self) -> None:
        """Reset the device as its reset button would (the host driver then sees BOOT)."""
        if self.kind == "host":
            self.proc.send_signal(signal.SIGUSR1)
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2.0)
            s.connect(str(self.monitor))
            s.sendall(b"system_reset\n")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        _RUNNING.discard(self.proc)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> DeviceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_RUNNING: set[subprocess.Popen] = set()


@atexit.register
def _stop_all() -> None:
    """Devices run in their own session (so Ctrl-C in a shell does not kill them half-way): stop any
    that a crashed caller left behind when Python exits."""
    for proc in list(_RUNNING):
        if proc.poll() is None:
            proc.kill()


def _drain(proc: subprocess.Popen, log: list[str]) -> None:
    for line in proc.stdout:  # keeps the pipe from filling; the last lines help an error message
        log.append(line.rstrip())
        del log[:-50]


def start(kind: Kind, binary: Path | None = None, timeout: float = 20.0) -> DeviceProcess:
    """Start the host build or QEMU (building the firmware first if needed) and wait for its pty."""
    binary = binary or build(kind)
    tmp = None
    if kind == "host":
        cmd = [str(binary)]
        pattern = re.compile(r"pty: (\S+)")
    else:
        tmp = tempfile.TemporaryDirectory(prefix="neuroedge-qemu-")
        monitor = Path(tmp.name) / "monitor.sock"
        cmd = [
            QEMU,
            "-M",
            "lm3s6965evb",
            "-display",
            "none",
            "-serial",
            "pty",
            "-monitor",
            f"unix:{monitor},server,nowait",
            "-kernel",
            str(binary),
        ]
        pattern = re.compile(r"char device redirected to (\S+)")
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    _RUNNING.add(proc)
    log: list[str] = []
    deadline = time.monotonic() + timeout
    path = None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        log.append(line.rstrip())
        m = pattern.search(line)
        if m:
            path = m.group(1)
            break
    if path is None:
        proc.kill()
        proc.wait()
        if tmp:
            tmp.cleanup()
        raise FirmwareError(f"{cmd[0]} did not report its pty: {' | '.join(log[-5:]) or 'no output'}")
    threading.Thread(target=_drain, args=(proc, log), daemon=True).start()
    dev = DeviceProcess(kind, path, proc, None if kind == "host" else monitor, log, tmp)
    if kind == "qemu":  # the monitor socket appears with the machine; wait for it so reset() works
        while not monitor.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return dev
