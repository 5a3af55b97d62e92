"""The host side of the board runner (``python3 -m trt.runner``): what the probe asks, the job folder's
files, result parsing, and the long-lived ``--mode serve`` session.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import select
import subprocess
import tarfile
import tempfile
import time
from typing import Any

import numpy as np

from neuroedge.trt.runner import RESULT_MARKER

from .ssh import JetsonError, SshAddress, SshSession, classify_ssh_error

PROBE_MARKER = "NEUROEDGE-PROBE"
READY_MARKER = RESULT_MARKER + "-READY "
JOBS = ".cache/neuroedge/jobs"  # relative to the remote home, where ssh commands start

# Run on the board by the probe: versions and the job folder's files, one JSON line (any Python 3).
PROBE = """
import json, os, sys
r = {"python": list(sys.version_info[:3])}
for mod in ("numpy", "tensorrt", "onnxruntime"):
    try:
        m = __import__(mod)
        r[mod] = m.__version__
        if mod == "onnxruntime":
            r["providers"] = m.get_available_providers()
    except Exception:
        r[mod] = None
d = sys.argv[1]
r["files"] = {}
if os.path.isdir(d):
    import hashlib
    for name in os.listdir(d) + ["trt/" + n for n in (os.listdir(d + "/trt") if os.path.isdir(d + "/trt") else [])]:
        path = os.path.join(d, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                r["files"][name] = hashlib.sha256(f.read()).hexdigest()[:16]
print("PROBE_MARKER " + json.dumps(r))
""".replace("PROBE_MARKER", PROBE_MARKER)


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def parse_result(stdout: str, address: SshAddress) -> dict[str, Any]:
    if RESULT_MARKER not in stdout:
        tail = stdout.strip().splitlines()[-1:] or ["no output"]
        raise JetsonError(f"{address}: the runner printed no result ({tail[0]})")
    return json.loads(stdout.split(RESULT_MARKER, 1)[1].strip().splitlines()[0])


class RemoteSession:
    """One ``python3 -m trt.runner --mode serve`` kept running over SSH: a ``run`` is a framed request and reply.

    Frames are an 8-byte big-endian length and the bytes (an .npz of inputs; a JSON reply). The runner's
    stderr goes to a temp file, not a pipe, so a chatty library cannot fill a pipe and stall the session;
    it is read only to explain a session that died.
    """

    def __init__(self, ssh: SshSession, command: str, timeout: float = 900.0) -> None:
        self.ssh = ssh
        self.timeout = timeout
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([*ssh.base, command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        text = line.decode(errors="replace")
        if not text.startswith(READY_MARKER):
            self.close()
            raise JetsonError(f"{ssh.address}: the runner did not start its session ({text[-120:]})")
        self.facts: dict[str, Any] = json.loads(text[len(READY_MARKER):])

    def _died(self) -> JetsonError:
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.err.seek(0)
        stderr = self.err.read().decode(errors="replace")
        return JetsonError(classify_ssh_error(stderr, rc or 1, self.ssh.address, self.ssh.python))

    def _fill(self, deadline: float) -> None:
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            self.close()
            raise JetsonError(f"{self.ssh.address}: no reply from the runner within {self.timeout:.0f} s")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            raise self._died()
        self.buf += chunk

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def request(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        body = _npz(arrays)
        try:
            self.proc.stdin.write(len(body).to_bytes(8, "big") + body)  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except BrokenPipeError:
            raise self._died() from None
        deadline = time.monotonic() + self.timeout
        size = int.from_bytes(self._read_exact(8, deadline), "big")
        reply = json.loads(self._read_exact(size, deadline))
        if "error" in reply:
            raise JetsonError(f"{self.ssh.address}: the runner failed: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(bytes(8))  # type: ignore[union-attr]  # a zero-length request ends it
                self.proc.stdin.close()  # type: ignore[union-attr]
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def _sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _decode_npz(b64: str) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(base64.b64decode(b64)), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
