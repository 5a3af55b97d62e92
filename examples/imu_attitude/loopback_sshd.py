"""A throwaway sshd on 127.0.0.1 so the demo can exercise the jetson target without a board.

Debian's ``openssh-server`` (``/usr/sbin/sshd``), a generated host key and user key, an AuthorizedKeysFile and
a known_hosts file in a temp folder, a free high port. Host-key checking stays on: the client is given the
generated host key. Needs permission to run sshd (root in CI containers).
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


@contextmanager
def loopback_sshd() -> Iterator[dict[str, str]]:
    """Yields jetson target options (url, identity, known_hosts) for a local sshd; stops it afterwards."""
    why = missing()
    if why:
        raise RuntimeError(why)
    with tempfile.TemporaryDirectory(prefix="neuroedge-sshd-") as tmp:
        d = Path(tmp)
        os.chmod(d, 0o700)
        for key in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
        shutil.copy(d / "user_key.pub", d / "authorized_keys")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        user = getpass.getuser()
        (d / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            f"AllowUsers {user}\nLogLevel ERROR\n")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 10
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"sshd did not start: {proc.stderr.read().decode(errors='replace')[:200]}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("sshd did not listen within 10 s") from None
                    time.sleep(0.1)
            kind, key = (d / "host_key.pub").read_text().split()[:2]
            (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {kind} {key}\n")
            yield {"url": f"jetson://{user}@127.0.0.1:{port}", "identity": str(d / "user_key"),
                   "known_hosts": str(d / "known_hosts")}
        finally:
            proc.terminate()
            proc.wait(timeout=10)
