"""A throwaway sshd on 127.0.0.1: the jetson target without a board (tests, the gesture benchmark, the IMU demo).

Debian's ``openssh-server`` (``/usr/sbin/sshd``), a generated host key and user key, an AuthorizedKeysFile and
a known_hosts file in a private temp folder, a free high port. Host-key checking stays on: the client is
given the generated host key. Needs permission to run sshd (root in CI containers).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def missing() -> str | None:
    """None when a loopback sshd can start here, else what to install."""
    if not Path(SSHD).is_file() or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "no sshd/ssh: apt-get install openssh-server openssh-client"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    """A new passphrase-less ed25519 key pair at ``path`` (and ``path``.pub)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def _wait_listening(proc: subprocess.Popen, port: int, timeout: float = 10.0) -> None:
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd did not start: {proc.stderr.read().decode(errors='replace').strip()[:200]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"sshd did not listen within {timeout:.0f} s") from None
            time.sleep(0.1)


@contextmanager
def loopback_sshd() -> Iterator[dict[str, str]]:
    """Yields jetson target options (url, identity, known_hosts) for a local sshd; stops it afterwards.

    The key files lie in one private folder, ``Path(options["identity"]).parent``, for a caller that wants
    to add its own (a test's refused key). Raises RuntimeError with the reason when sshd cannot start.
    """
    why = missing()
    if why:
        raise RuntimeError(why)
    with tempfile.TemporaryDirectory(prefix="neuroedge-sshd-") as tmp:
        d = Path(tmp)
        os.chmod(d, 0o700)
        keygen(d / "host_key")
        shutil.copy(keygen(d / "user_key").with_suffix(".pub"), d / "authorized_keys")
        port, user = free_port(), getpass.getuser()
        (d / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
            f"StrictModes no\nUsePAM no\nAllowUsers {user}\nLogLevel ERROR\n")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # the privilege-separation folder sshd insists on
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
        try:
            _wait_listening(proc, port)
            kind, key = (d / "host_key.pub").read_text().split()[:2]
            (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {kind} {key}\n")
            yield {"url": f"jetson://{user}@127.0.0.1:{port}", "identity": str(d / "user_key"),
                   "known_hosts": str(d / "known_hosts")}
        finally:
            proc.terminate()
            proc.wait(timeout=10)
