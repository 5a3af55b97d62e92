"""Target ``jetson``: benchmark an ONNX bundle on a remote NVIDIA Jetson (or any Linux box) over SSH.

``jetson://user@host[:port]`` (option ``url``). The system OpenSSH client is used, so ``~/.ssh/config``,
agents and jump hosts work as the user set them up; host keys are checked (``BatchMode=yes``, no
``StrictHostKeyChecking=no`` unless the user passes it in ``ssh_options``).

What one benchmark does:

1. one ``ssh`` call: ``tar`` the bundle's ONNX, ``jetson_runner.py``, ``tensorrt_build.py`` and the inputs
   into ``~/.cache/neuroedge/jobs/<onnx-hash>/`` on the board;
2. one ``ssh`` call: the runner builds the engine **there** (an engine is tied to the board's TensorRT and
   GPU) into ``~/.cache/neuroedge/engines/`` keyed by ONNX hash, TensorRT version, GPU and precision,
   benchmarks it (TensorRT when the board has it, else onnxruntime) and prints JSON;
3. the JSON comes back: host latency samples, GPU compute and enqueue times, the build log (build time kept
   apart from the run), and the board facts (``/etc/nv_tegra_release``, ``nvpmodel -q``,
   ``jetson_clocks --show``, a tegrastats sample). Unlocked clocks give a warning.

Options: ``url``, ``remote_python`` (default ``python3``), ``backend`` (auto | tensorrt | onnxruntime),
``precision`` (fp32 | fp16 | int8), ``identity`` (a key file), ``known_hosts`` (a known_hosts file),
``ssh_options`` (extra ``-o`` options, comma-separated), ``connect_timeout`` (s).
"""

from __future__ import annotations

import base64
import io
import json
import re
import shlex
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from neuroedge.bench import BenchConfig, LatencyReport
from neuroedge.bundle import Bundle, TensorSpec
from neuroedge.registry import Target, check_inputs

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "jetson_runner.py"
RESULT_MARKER = "NEUROEDGE-RESULT"
OPTIONS = ("url", "remote_python", "backend", "precision", "identity", "known_hosts", "ssh_options",
           "connect_timeout")


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
    """The system ssh client with fixed options; every call is ``ssh [opts] dest -- command``."""

    def __init__(self, address: SshAddress, identity: str | None = None, known_hosts: str | None = None,
                 ssh_options: str | None = None, connect_timeout: float = 10.0, python: str = "python3") -> None:
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
        self.base = ["ssh", *opts, address.destination]

    def run(self, command: str, stdin: bytes | None = None, timeout: float = 900.0) -> str:
        proc = subprocess.run([*self.base, command], input=stdin, capture_output=True, timeout=timeout)
        if proc.returncode != 0:
            raise JetsonError(classify_ssh_error(proc.stderr.decode(errors="replace"), proc.returncode,
                                                 self.address, self.python))
        return proc.stdout.decode(errors="replace")


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


class JetsonRunner:
    target = "jetson"

    def __init__(self, bundle: Bundle, options: dict[str, Any]) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"jetson: unknown option(s) {sorted(unknown)}; known: {', '.join(OPTIONS)}")
        if "url" not in options:
            raise ValueError("jetson: give the board as option url=jetson://user@host[:port]")
        self.bundle = bundle
        self.inputs: tuple[TensorSpec, ...] = bundle.manifest.inputs
        self.outputs: tuple[TensorSpec, ...] = bundle.manifest.outputs
        self.address = parse_url(str(options["url"]))
        self.python = str(options.get("remote_python", "python3"))
        self.backend = str(options.get("backend", "auto"))
        self.precision = str(options.get("precision", "fp16"))
        self.ssh = SshSession(self.address, options.get("identity"), options.get("known_hosts"),
                              options.get("ssh_options"), float(options.get("connect_timeout", 10)), self.python)
        self.job = f".cache/neuroedge/jobs/{bundle.source_hash.split(':')[-1][:16]}"
        self.last: dict[str, Any] = {}
        self._uploaded = False

    def _check_python(self) -> None:
        out = self.ssh.run(f"{shlex.quote(self.python)} -c 'import sys; print(sys.version_info[0], "
                           f"sys.version_info[1])'")
        major, minor = (int(x) for x in out.split()[:2])
        if (major, minor) < (3, 8):
            raise JetsonError(f"{self.address}: {self.python} is Python {major}.{minor}; the runner needs 3.8+ "
                              "(pass remote_python=<path to python3.8+>)")

    def _upload(self, arrays: dict[str, np.ndarray]) -> None:
        files = {"model.onnx": self.bundle.main_file.read_bytes(), "inputs.npz": _npz(arrays)}
        if not self._uploaded:
            self._check_python()
            files["jetson_runner.py"] = RUNNER.read_bytes()
            from neuroedge import tensorrt_build  # shipped as a file: the board builds its own engine

            files["tensorrt_build.py"] = Path(tensorrt_build.__file__).read_bytes()
        job = shlex.quote(self.job)
        self.ssh.run(f"mkdir -p {job} && tar -xf - -C {job}", stdin=_tar(files))
        self._uploaded = True

    def _remote(self, arrays: dict[str, np.ndarray], mode: str, config: BenchConfig | None = None) -> dict:
        self._upload(arrays)
        args = ["--onnx", "model.onnx", "--inputs", "inputs.npz", "--backend", self.backend,
                "--precision", self.precision, "--mode", mode]
        if config is not None:
            args += ["--iterations", str(config.iterations), "--warmup-s", "0.2",
                     "--duration-s", str(max(config.min_duration_s, 0.0))]
        cmd = f"cd {shlex.quote(self.job)} && {shlex.quote(self.python)} jetson_runner.py " + " ".join(
            shlex.quote(a) for a in args)
        self.last = parse_result(self.ssh.run(cmd), self.address)
        return self.last

    def _named(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        arrays = check_inputs(self.inputs, inputs)
        return {spec.name: arr for spec, arr in zip(self.inputs, arrays, strict=True)}

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        result = self._remote(self._named(inputs), "run")
        with np.load(io.BytesIO(base64.b64decode(result["outputs_npz_b64"])), allow_pickle=False) as data:
            by_name = {k: data[k] for k in data.files}
        return [by_name[spec.name] for spec in self.outputs if spec.name in by_name] or list(by_name.values())

    def benchmark(self, inputs: list[np.ndarray], config: BenchConfig = BenchConfig()) -> LatencyReport:  # noqa: B008
        result = self._remote(self._named(inputs), "bench", config)
        timings = result["timings"]
        settings = self.settings()
        for key in ("gpu_compute_ms", "enqueue_ms"):
            if key in timings:
                s = np.asarray(timings[key])
                settings[key] = {"mean": float(s.mean()), "p50": float(np.percentile(s, 50)),
                                 "p99": float(np.percentile(s, 99))}
        settings["build"] = result.get("build")  # build time is here, never inside the latency samples
        settings["engine_cache_hit"] = result.get("engine_cache_hit")
        settings["warnings"] = result.get("warnings", [])
        settings["tegrastats"] = result.get("tegrastats")
        board = dict(result.get("board", {}))
        return LatencyReport(target=f"jetson:{result['backend']}", samples_ms=np.asarray(timings["host_latency_ms"]),
                             warmup_iterations=0, batch=config.batch, settings=settings, host=board,
                             clock="host")

    def settings(self) -> dict[str, Any]:
        out = {"url": str(self.address), "remote_python": self.python, "backend": self.last.get("backend",
               self.backend), "precision": self.precision}
        for key in ("tensorrt_version", "trt_api", "onnxruntime_version", "providers", "runner_python"):
            if key in self.last:
                out[key] = self.last[key]
        return out

    def resources(self) -> dict[str, Any]:
        return {"model_bytes": self.bundle.main_file.stat().st_size, "board": self.last.get("board")}

    def close(self) -> None:
        pass


def open_runner(bundle: Bundle, options: dict[str, Any]) -> JetsonRunner:
    return JetsonRunner(bundle, dict(options))


TARGET = Target(
    name="jetson",
    summary="a Jetson over SSH: builds the TensorRT engine on the board (or onnxruntime there), benchmarks it",
    formats=("onnx", "qcdq-onnx"),
    available=available,
    open=open_runner,
    bench_resources={"jetson": 1},
)
