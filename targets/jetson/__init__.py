"""Target ``jetson``: benchmark an ONNX bundle on a remote NVIDIA Jetson (or any Linux box) over SSH.

``jetson://user@host[:port]`` (option ``url``). The system OpenSSH client is used, so ``~/.ssh/config``,
agents and jump hosts work as the user set them up; host keys are checked (``BatchMode=yes``, no
``StrictHostKeyChecking=no`` unless the user passes it in ``ssh_options``).

Before any SSH, on the host: the bundle's Q/DQ is classified and the precision checked
(``neuroedge.trt.qdq``: int8 on a float graph, or sub-8-bit weight-only Q/DQ, is refused in one line: the
board has no ``onnx`` package to do it), and a Q/DQ graph goes through the TensorRT prep pass (INT32 bias
DequantizeLinear and weight Clips folded).

Then, over one shared SSH connection (OpenSSH ``ControlMaster=auto`` with its socket in a private temp
folder and ``ControlPersist``; closed by ``close()``):

1. a probe: the board's Python, TensorRT, onnxruntime and numpy versions, and which files the job folder
   ``~/.cache/neuroedge/jobs/<code-hash>/`` already holds. The backend (``auto``: TensorRT when the board
   has it, else onnxruntime) and the weight form of the prepared graph (INT8 for TensorRT 10, float Q/DQ
   for 8.x) follow from it;
2. an upload of only the missing files: the board half of ``neuroedge.trt`` as the package ``trt/`` (the
   job folder is named by its hash) and ``model-<onnx-hash>.onnx``, so a model is sent once, however many
   calls follow. Job folders of other runner versions untouched for a day are removed then, and models in
   this one unused for a week (``touch`` on use keeps live ones); the engine cache is kept;
3. ``run`` talks to one long-lived ``python3 -m trt.runner --mode serve`` (framed requests on its stdin, so
   a call costs no SSH handshake, no Python start and no session load); ``run_many`` and ``benchmark`` are
   each one remote invocation with the inputs on stdin. The runner builds the engine **there** (an engine
   is tied to the board's TensorRT and GPU) into ``~/.cache/neuroedge/engines/`` keyed by ONNX hash,
   TensorRT version, GPU and precision, and prints JSON: outputs, or host latency samples, GPU compute and
   enqueue times, the build log (build time kept apart from the run), the board facts
   (``/etc/nv_tegra_release``, ``nvpmodel -q``, ``jetson_clocks --show``, a tegrastats sample). Unlocked
   clocks give a warning. ``run_many`` evaluates N samples in one round trip.

Modules: ``ssh`` (addresses, the shared connection, error lines), ``remote`` (probe, job files, the serve
session), ``runner`` (``JetsonRunner``), ``options`` (``JetsonOptions``).
"""

from __future__ import annotations

from neuroedge.bundle import Bundle
from neuroedge.registry import Target

from .options import JetsonOptions
from .remote import JOBS
from .runner import JetsonRunner
from .ssh import JetsonError, SshAddress, available, classify_ssh_error, parse_url

__all__ = ["JOBS", "TARGET", "JetsonError", "JetsonOptions", "JetsonRunner", "SshAddress", "classify_ssh_error",
           "parse_url"]


def open_runner(bundle: Bundle, options: JetsonOptions) -> JetsonRunner:
    """a Jetson over SSH: builds the TensorRT engine on the board (or onnxruntime there), benchmarks it"""
    return JetsonRunner(bundle, options)


TARGET = Target("jetson", ("onnx", "qcdq-onnx"), open_runner, JetsonOptions, available,
                bench_resources={"jetson": 1}, url_option="url")
