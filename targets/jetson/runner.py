"""``JetsonRunner``: prepare on the host, then probe, upload and run on the board (see the package docstring)."""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from neuroedge import trt
from neuroedge.bench import BenchConfig, LatencyReport
from neuroedge.bundle import Bundle, TensorSpec
from neuroedge.registry import check_inputs
from neuroedge.trt import qdq
from neuroedge.trt.build import TensorRTBuildError, weight_style_for

from .options import JetsonOptions
from .remote import JOBS, PROBE, PROBE_MARKER, RemoteSession, _decode_npz, _npz, _sha16, _tar, parse_result
from .ssh import JetsonError, SshSession, parse_url

TRT_DIR = Path(trt.__file__).resolve().parent


class JetsonRunner:
    target = "jetson"

    def __init__(self, bundle: Bundle, options: JetsonOptions) -> None:
        if not options.url:
            raise ValueError("jetson: give the board as option url=jetson://user@host[:port]")
        if options.backend not in ("auto", "tensorrt", "onnxruntime"):
            raise ValueError(f"jetson: backend {options.backend!r} is not one of auto, tensorrt, onnxruntime")
        self.bundle = bundle
        self.options = options
        self.inputs: tuple[TensorSpec, ...] = bundle.manifest.inputs
        self.outputs: tuple[TensorSpec, ...] = bundle.manifest.outputs
        self.address = parse_url(options.url)
        self.python = options.remote_python
        self.backend = options.backend
        self.precision = options.precision
        self.ort_providers = options.ort_providers
        self.persistent = options.persistent  # run() through one long-lived remote session
        self._session: RemoteSession | None = None
        # Host side, before any SSH: the board has no onnx package to classify the graph or prepare it.
        self._work = Path(tempfile.mkdtemp(prefix="ne-jetson-"))
        self._drop_work = weakref.finalize(self, shutil.rmtree, str(self._work), True)
        self.qdq: dict[str, Any] | None = None
        self.prep: dict[str, Any] | None = None
        if self.backend != "onnxruntime":  # precision and the prep pass concern TensorRT only
            try:
                self.qdq, self.prep = qdq.prepare_for_build(bundle.main_file, self._work / "model.onnx",
                                                            self.precision)
            except TensorRTBuildError as exc:
                self._drop_work()
                raise JetsonError(f"{self.address}: precision {self.precision}: {exc}") from None
        self.ssh = SshSession(self.address, options.identity, options.known_hosts, options.ssh_options,
                              options.connect_timeout, self.python, options.control_persist)
        # The board package, uploaded as ``trt/``; the job folder is named by its hash.
        self.code = {f"trt/{name}": (TRT_DIR / name).read_bytes() for name in trt.BOARD_FILES}
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
            if weight_style_for(probe.get("tensorrt")) != self.prep["weights"]:  # TensorRT 8.x: float Q/DQ
                self.qdq, self.prep = qdq.prepare_for_build(self.bundle.main_file, self._work / "model.onnx",
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
        # ``-m`` puts the job folder (the cwd) first on sys.path, so the uploaded ``trt`` package is the one run.
        return f"cd {shlex.quote(self.job)} && {shlex.quote(self.python)} -m trt.runner " + " ".join(
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
