"""Target ``jetson``: benchmark an ONNX bundle on a remote NVIDIA Jetson (or any Linux box) over SSH.

``jetson://user@host[:port]`` (option ``url``). The system OpenSSH client is used, so ``~/.ssh/config``,
agents and jump hosts work as the user set them up; host keys are checked (``BatchMode=yes``, no
``StrictHostKeyChecking=no`` unless the user passes it in ``ssh_options``).

Before any SSH, on the host: the bundle's Q/DQ is classified and the precision checked
(``analyze_qdq``/``check_precision``: int8 on a float graph, or sub-8-bit weight-only Q/DQ, is refused in
one line: the board has no ``onnx`` package to do it), and a Q/DQ graph goes through the TensorRT prep pass
(INT32 bias DequantizeLinear and weight Clips folded; ``tensorrt_build.prepare_qdq_for_tensorrt``).

Then, over one shared SSH connection (OpenSSH ``ControlMaster=auto`` with its socket in a private temp
folder and ``ControlPersist``; closed by ``close()``):

1. a probe: the board's Python, TensorRT, onnxruntime and numpy versions, and which files the job folder
   ``~/.cache/neuroedge/jobs/<code-hash>/`` already holds. The backend (``auto``: TensorRT when the board
   has it, else onnxruntime) and the weight form of the prepared graph (INT8 for TensorRT 10, float Q/DQ
   for 8.x) follow from it;
2. an upload of only the missing files: ``jetson_runner.py`` and ``tensorrt_build.py`` (the job folder is
   named by their hash) and ``model-<onnx-hash>.onnx``, so a model is sent once, however many calls follow.
   Job folders of other runner versions untouched for a day are removed then, and models in this one
   unused for a week (``touch`` on use keeps live ones); the engine cache is kept;
3. ``run`` talks to one long-lived ``jetson_runner.py --mode serve`` (framed requests on its stdin, so a
   call costs no SSH handshake, no Python start and no session load); ``run_many`` and ``benchmark`` are
   each one remote invocation with the inputs on stdin. The runner
   builds the engine **there** (an engine is tied to the board's TensorRT and GPU) into
   ``~/.cache/neuroedge/engines/`` keyed by ONNX hash, TensorRT version, GPU and precision, and prints JSON:
   outputs, or host latency samples, GPU compute and enqueue times, the build log (build time kept apart
   from the run), the board facts (``/etc/nv_tegra_release``, ``nvpmodel -q``, ``jetson_clocks --show``,
   a tegrastats sample). Unlocked clocks give a warning. ``run_many`` evaluates N samples in one round trip.

Options: ``url``, ``remote_python`` (default ``python3``), ``backend`` (auto | tensorrt | onnxruntime),
``precision`` (fp32 | fp16 | int8), ``identity`` (a key file), ``known_hosts`` (a known_hosts file),
``ssh_options`` (extra ``-o`` options, comma-separated), ``connect_timeout`` (s), ``control_persist`` (s the
shared connection outlives its last use; 0 turns sharing off), ``ort_providers`` (onnxruntime on the board:
comma list of tensorrt, cuda, cpu; default cuda,cpu), ``persistent`` (default true: ``run`` through the
serve session; false: one remote invocation per call).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import select
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from neuroedge import tensorrt_build as tb
from neuroedge.bench import BenchConfig, LatencyReport
from neuroedge.bundle import Bundle, TensorSpec
from neuroedge.registry import Target, check_inputs

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "jetson_runner.py"
TENSORRT_BUILD = Path(tb.__file__).resolve()  # shipped as a file: the board builds its own engine
RESULT_MARKER = "NEUROEDGE-RESULT"
PROBE_MARKER = "NEUROEDGE-PROBE"
READY_MARKER = RESULT_MARKER + "-READY "
JOBS = ".cache/neuroedge/jobs"  # relative to the remote home, where ssh commands start
OPTIONS = ("url", "remote_python", "backend", "precision", "identity", "known_hosts", "ssh_options",
           "connect_timeout", "control_persist", "ort_providers", "persistent")

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
    for name in os.listdir(d):
        with open(os.path.join(d, name), "rb") as f:
            r["files"][name] = hashlib.sha256(f.read()).hexdigest()[:16]
print("PROBE_MARKER " + json.dumps(r))
""".replace("PROBE_MARKER", PROBE_MARKER)


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
    """One ``jetson_runner.py --mode serve`` kept running over SSH: a ``run`` is a framed request and reply.

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
        if self.backend not in ("auto", "tensorrt", "onnxruntime"):
            raise ValueError(f"jetson: backend {self.backend!r} is not one of auto, tensorrt, onnxruntime")
        self.precision = str(options.get("precision", "fp16"))
        self.ort_providers = str(options.get("ort_providers", "cuda,cpu"))
        # run() through one long-lived remote session (no process start per call); false: one invocation each
        self.persistent = str(options.get("persistent", "true")).lower() in ("1", "true", "yes")
        self._session: RemoteSession | None = None
        # Host side, before any SSH: the board has no onnx package to classify the graph or prepare it.
        self._work = Path(tempfile.mkdtemp(prefix="ne-jetson-"))
        self._drop_work = weakref.finalize(self, shutil.rmtree, str(self._work), True)
        self.qdq: dict[str, Any] | None = None
        self.prep: dict[str, Any] | None = None
        if self.backend != "onnxruntime":  # precision and the prep pass concern TensorRT only
            try:
                self.qdq, self.prep = tb.prepare_for_build(bundle.main_file, self._work / "model.onnx",
                                                           self.precision)
            except tb.TensorRTBuildError as exc:
                self._drop_work()
                raise JetsonError(f"{self.address}: precision {self.precision}: {exc}") from None
        self.ssh = SshSession(self.address, options.get("identity"), options.get("known_hosts"),
                              options.get("ssh_options"), float(options.get("connect_timeout", 10)), self.python,
                              int(options.get("control_persist", 60)))
        self.code = {"jetson_runner.py": RUNNER.read_bytes(), "tensorrt_build.py": TENSORRT_BUILD.read_bytes()}
        self.job = f"{JOBS}/{_sha16(b''.join(self.code.values()))}"
        self.probe: dict[str, Any] | None = None
        self.resolved_backend: str | None = None
        self.model_name: str | None = None
        self.uploaded: list[str] = []
        self.last: dict[str, Any] = {}

    # ---- the one-time setup: probe, choose, upload what is missing ----

    def _probe(self) -> dict[str, Any]:
        out = self.ssh.run(f"{shlex.quote(self.python)} -c {shlex.quote(PROBE)} {shlex.quote(self.job)}")
        if PROBE_MARKER not in out:
            raise JetsonError(f"{self.address}: {self.python} did not answer the probe ({out.strip()[-120:]})")
        probe = json.loads(out.split(PROBE_MARKER, 1)[1].strip().splitlines()[0])
        major, minor = probe["python"][:2]
        if (major, minor) < (3, 8):
            raise JetsonError(f"{self.address}: {self.python} is Python {major}.{minor}; the runner needs 3.8+ "
                              "(pass remote_python=<path to python3.8+>)")
        if probe.get("numpy") is None:
            raise JetsonError(f"{self.address}: no numpy for {self.python}; install it (apt-get install "
                              "python3-numpy) or pass remote_python=<a python with numpy>")
        return probe

    def _resolve_backend(self, probe: dict[str, Any]) -> str:
        has_trt, has_ort = probe.get("tensorrt") is not None, probe.get("onnxruntime") is not None
        want = self.backend
        if want == "auto":
            want = "tensorrt" if has_trt else "onnxruntime"
        if want == "tensorrt" and not has_trt:
            raise JetsonError(f"{self.address}: no tensorrt module for {self.python}; install JetPack's "
                              "python3-libnvinfer or pass backend=onnxruntime")
        if want == "onnxruntime" and not has_ort:
            raise JetsonError(f"{self.address}: neither TensorRT nor onnxruntime for {self.python}; install "
                              "JetPack's python3-libnvinfer or pip install onnxruntime there")
        return want

    def _ensure_ready(self) -> None:
        if self.model_name is not None:
            return
        probe = self._probe()
        backend = self._resolve_backend(probe)
        model = self.bundle.main_file
        if backend == "tensorrt" and self.prep is not None:
            if tb.weight_style_for(probe.get("tensorrt")) != self.prep["weights"]:  # TensorRT 8.x: float Q/DQ
                self.qdq, self.prep = tb.prepare_for_build(self.bundle.main_file, self._work / "model.onnx",
                                                           self.precision, probe.get("tensorrt"))
            model = self._work / "model.onnx"
        data = model.read_bytes()
        name = f"model-{_sha16(data)}.onnx"
        have = probe.get("files", {})
        files = {k: v for k, v in self.code.items() if have.get(k) != _sha16(v)}
        if have.get(name) != _sha16(data):
            files[name] = data
        job = shlex.quote(self.job)
        # Housekeeping: job folders of other runner versions unused for a day, and models here unused for a
        # week, are removed; touching this folder and model marks them as in use. Engines are kept.
        cmd = (f"mkdir -p {job} && find {JOBS} -mindepth 1 -maxdepth 1 -type d ! -name {job.rsplit('/', 1)[-1]} "
               f"-mtime +0 -exec rm -rf {{}} + ; find {job} -name 'model-*.onnx' ! -name {name} -mtime +6 "
               f"-delete ; ")
        cmd += f"tar -xf - -C {job} && " if files else ""
        cmd += f"touch {job} {job}/{name}"
        self.ssh.run(cmd, stdin=_tar(files) if files else None)
        self.probe, self.resolved_backend, self.model_name, self.uploaded = probe, backend, name, sorted(files)

    # ---- calls ----

    def _command(self, mode: str, config: BenchConfig | None = None) -> str:
        args = ["--onnx", str(self.model_name), "--inputs", "-", "--backend", str(self.resolved_backend),
                "--precision", self.precision, "--mode", mode, "--ort-providers", self.ort_providers]
        if config is not None:
            args += ["--iterations", str(config.iterations), "--warmup-s", "0.2",
                     "--duration-s", str(max(config.min_duration_s, 0.0))]
        return f"cd {shlex.quote(self.job)} && {shlex.quote(self.python)} jetson_runner.py " + " ".join(
            shlex.quote(a) for a in args)

    def _invoke(self, mode: str, arrays: dict[str, np.ndarray], config: BenchConfig | None = None) -> dict:
        self._ensure_ready()
        self.last = parse_result(self.ssh.run(self._command(mode, config), stdin=_npz(arrays)), self.address)
        return self.last

    def _named(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        arrays = check_inputs(self.inputs, inputs)
        return {spec.name: arr for spec, arr in zip(self.inputs, arrays, strict=True)}

    def _ordered(self, by_name: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [by_name[spec.name] for spec in self.outputs if spec.name in by_name] or list(by_name.values())

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        arrays = self._named(inputs)
        if not self.persistent:
            return self._ordered(_decode_npz(self._invoke("run", arrays)["outputs_npz_b64"]))
        if self._session is None:
            self._ensure_ready()
            self._session = RemoteSession(self.ssh, self._command("serve"))
            self.last = dict(self._session.facts)
        reply = self._session.request(arrays)
        if "opened" in reply:  # TensorRT: the engine's build log (or cache hit) for these shapes
            self.last.update(reply["opened"])
        return self._ordered(_decode_npz(reply["outputs_npz_b64"]))

    def run_many(self, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        """``run`` for each sample, in one remote invocation: one round trip for an accuracy evaluation."""
        arrays = {f"{i}:{name}": arr for i, inputs in enumerate(samples) for name, arr in self._named(inputs).items()}
        flat = _decode_npz(self._invoke("run-samples", arrays)["outputs_npz_b64"])
        per: list[dict[str, np.ndarray]] = [{} for _ in samples]
        for key, arr in flat.items():
            idx, _, name = key.partition(":")
            per[int(idx)][name] = arr
        return [self._ordered(outs) for outs in per]

    def benchmark(self, inputs: list[np.ndarray], config: BenchConfig = BenchConfig()) -> LatencyReport:  # noqa: B008
        result = self._invoke("bench", self._named(inputs), config)
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
        out: dict[str, Any] = {"url": str(self.address), "remote_python": self.python,
                               "backend": self.last.get("backend", self.resolved_backend or self.backend),
                               "precision": self.precision, "ssh_connection_sharing": self.ssh.control_dir is not None,
                               "qdq": self.qdq, "qdq_prep": self.prep, "remote_model": self.model_name,
                               "uploaded": self.uploaded, "persistent_session": self.persistent}
        for key in ("tensorrt_version", "trt_api", "onnxruntime_version", "providers", "ort_settings",
                    "runner_python"):
            if key in self.last:
                out[key] = self.last[key]
        return out

    def resources(self) -> dict[str, Any]:
        return {"model_bytes": self.bundle.main_file.stat().st_size, "board": self.last.get("board")}

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        self.ssh.close()
        self._drop_work()


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
