"""SSH to the board: ``jetson://`` addresses, the system OpenSSH client with one shared connection, and
ssh's errors turned into one line with the fix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import weakref
from dataclasses import dataclass
from typing import Literal


class JetsonError(RuntimeError):
    """One line, with the fix: an unreachable host, a refused key, a remote without Python, a runner failure."""


@dataclass(frozen=True)
class SshAddress:
    user: str | None
    host: str
    port: int | None

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def __str__(self) -> str:
        return f"jetson://{self.destination}" + (f":{self.port}" if self.port else "")


def parse_url(url: str) -> SshAddress:
    """``jetson://user@host[:port]`` (the scheme is optional; IPv6 hosts go in brackets)."""
    rest = url[len("jetson://"):] if url.startswith("jetson://") else url
    m = re.fullmatch(r"(?:([^@/\s]+)@)?(\[[0-9a-fA-F:]+\]|[^:@/\s\[\]]+)(?::(\d+))?/?", rest)
    if not m:
        raise ValueError(f"{url!r} is not jetson://user@host[:port]")
    user, host, port = m.groups()
    return SshAddress(user, host.strip("[]"), int(port) if port else None)


def available() -> Literal[True] | str:
    if shutil.which("ssh") is None:
        return "no ssh client on PATH: apt-get install openssh-client"
    return True


def classify_ssh_error(stderr: str, rc: int, address: SshAddress, python: str) -> str:
    """Turn ssh's stderr into one line that says what went wrong and how to fix it."""
    text = stderr.strip()
    low = text.lower()
    if "host key verification failed" in low or "remote host identification has changed" in low:
        return (f"{address}: host key not known or changed; check it and add it with "
                f"`ssh-keyscan -p {address.port or 22} {address.host} >> ~/.ssh/known_hosts` (or ssh there once)")
    if "permission denied" in low:
        return (f"{address}: the key was refused ({text.splitlines()[-1]}); install your public key with "
                f"`ssh-copy-id {address.destination}` or pass identity=<key file>")
    if any(s in low for s in ("connection refused", "could not resolve", "no route to host", "timed out",
                              "network is unreachable", "name or service not known", "connection closed")):
        return f"{address}: unreachable ({text.splitlines()[-1]}); check the address, the port and that sshd runs"
    if rc == 127 or "command not found" in low or "no such file or directory" in low and python in text:
        return (f"{address}: no {python!r} on the board; install python3 (apt-get install python3 "
                f"python3-numpy) or pass remote_python=<path>")
    last = text.splitlines()[-1] if text else f"exit code {rc}"
    return f"{address}: remote command failed: {last}"


class SshSession:
    """The system ssh client with fixed options; every call is ``ssh [opts] dest -- command``.

    With ``control_persist > 0`` all calls share one connection (OpenSSH multiplexing): the first starts a
    master (``ControlMaster=auto``), whose socket lives in a private ``mkdtemp`` folder (mode 0700, a short
    path: a unix socket path is limited to ~104 bytes), and it stays up ``control_persist`` seconds after
    the last call. ``close()`` stops it (``ssh -O exit``) and removes the folder. Host keys stay checked.
    """

    def __init__(self, address: SshAddress, identity: str | None = None, known_hosts: str | None = None,
                 ssh_options: str | None = None, connect_timeout: float = 10.0, python: str = "python3",
                 control_persist: int = 60) -> None:
        self.address = address
        self.python = python
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(connect_timeout)}"]
        if address.port:
            opts += ["-p", str(address.port)]
        if identity:
            opts += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
        if known_hosts:
            opts += ["-o", f"UserKnownHostsFile={known_hosts}"]
        for extra in (ssh_options or "").split(","):
            if extra.strip():
                opts += ["-o", extra.strip()]
        self.control_dir: str | None = None
        if control_persist > 0:
            self.control_dir = tempfile.mkdtemp(prefix="ne-ssh-")
            opts += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.control_dir}/%C",
                     "-o", f"ControlPersist={int(control_persist)}"]
        self.opts = opts
        self.base = ["ssh", *opts, address.destination]
        self._finalizer = weakref.finalize(self, _stop_master, list(opts), address.destination, self.control_dir)

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 900.0) -> str:
        proc = subprocess.run([*self.base, command], input=stdin, capture_output=True, timeout=timeout)
        if proc.returncode != 0:
            raise JetsonError(classify_ssh_error(proc.stderr.decode(errors="replace"), proc.returncode,
                                                 self.address, self.python))
        return proc.stdout.decode(errors="replace")

    def master_running(self) -> bool:
        if self.control_dir is None:
            return False
        proc = subprocess.run(["ssh", *self.opts, "-O", "check", self.address.destination], capture_output=True,
                              timeout=10)
        return proc.returncode == 0

    def close(self) -> None:
        self._finalizer()


def _stop_master(opts: list[str], destination: str, control_dir: str | None) -> None:
    """Stop the shared connection (if one runs) and remove its socket folder."""
    if control_dir is None:
        return
    try:
        if not os.listdir(control_dir):  # no socket: no master was ever started
            raise FileNotFoundError(control_dir)
        subprocess.run(["ssh", *opts, "-O", "exit", destination], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        pass
    shutil.rmtree(control_dir, ignore_errors=True)
