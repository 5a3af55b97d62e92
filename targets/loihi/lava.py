"""The host side of loihi-sim: runs ``lava_worker.py`` in ``.venv-lava`` as a subprocess.

Lava needs Python 3.10 and numpy<2, so it never loads into the toolkit's process. For each call
the host writes a job folder (the protocol is in ``lava_worker.py``'s docstring), starts the
worker in its own process group, and reads the result files. A crash or a timeout raises
``LavaError`` with the tail of the worker's stderr, after the whole process group is killed, so
no Lava process (Lava forks one per process model) is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuroedge.snn.network import SNNNetwork, save_network

WORKER = Path(__file__).with_name("lava_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
STDERR_TAIL = 3000


class LavaError(RuntimeError):
    """Lava is missing, or the worker failed or timed out."""


def lava_python() -> Path:
    """The Lava venv's interpreter: $NEUROEDGE_LAVA_PYTHON, else <repo>/.venv-lava/bin/python."""
    env = os.environ.get("NEUROEDGE_LAVA_PYTHON")
    return Path(env) if env else REPO_ROOT / ".venv-lava" / "bin" / "python"


def lava_status() -> bool | str:
    """True, or the one-line reason Lava cannot run here, with the fix."""
    py = lava_python()
    if not py.exists():
        return f"Lava venv not found ({py}); run `make setup-lava` (needs Python 3.10)"
    return True


@dataclass
class LavaResult:
    """Same fields as the fast simulator's, from Lava, plus timings (seconds)."""

    counts: list[np.ndarray]
    v_out: np.ndarray
    readout: np.ndarray
    spikes: dict[int, np.ndarray]
    build_s: float
    run_s: float
    per_sample_s: list[float]
    wall_s: float


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_lava(
    net: SNNNetwork,
    in_spikes: np.ndarray,
    record: tuple[int, ...] = (),
    timeout_s: float = 600.0,
    progress: Callable[[int, int], None] | None = None,
) -> LavaResult:
    """Run input spikes (B, steps, n_in) through ``net`` in Lava fixed_pt; one worker per call."""
    status = lava_status()
    if status is not True:
        raise LavaError(str(status))
    in_spikes = np.asarray(in_spikes, dtype=bool)
    b, steps, _ = in_spikes.shape
    with tempfile.TemporaryDirectory(prefix="neuroedge-lava-") as tmp:
        job = Path(tmp)
        save_network(net, job)
        np.save(job / "spikes.npy", in_spikes)
        (job / "request.json").write_text(json.dumps({"steps": steps, "record": sorted(set(record))}))
        meta, arrays, wall = _run_worker(job, timeout_s, progress)
    n = net.depth
    counts = [arrays[f"counts{i}"].astype(np.int64) for i in range(n)]
    spikes = {i: arrays[f"spikes{i}"] for i in range(n) if f"spikes{i}" in arrays}
    v_out = arrays["v_out"].astype(np.int64)
    last = net.layers[-1].neuron
    readout = counts[-1] + (v_out - float(last.v_init)) / float(int(last.vth) << 6)
    return LavaResult(counts, v_out, readout, spikes, float(meta["build_s"] or 0.0), float(meta["run_s"]),
                      [float(s) for s in meta["per_sample_s"]], wall)


def _run_worker(job: Path, timeout_s: float, progress: Callable[[int, int], None] | None
                ) -> tuple[dict, dict[str, np.ndarray], float]:
    """Start the worker on a prepared job folder; (result.json, result.npz arrays, wall seconds)."""
    # The worker runs from the job folder: Lava searches the process's own folder for
    # ProcessModels, and this one holds nothing else to import.
    shutil.copy(WORKER, job / WORKER.name)
    err_path = job / "stderr.txt"
    t0 = time.perf_counter()
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            [str(lava_python()), str(job / WORKER.name), str(job)], stdout=subprocess.PIPE,
            stderr=err, text=True, start_new_session=True, cwd=job,
        )
        reader = threading.Thread(target=_read_progress, args=(proc, progress), daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise LavaError(f"Lava worker timed out after {timeout_s:.0f} s; stderr tail:\n"
                            + _tail(err_path)) from None
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            # Lava runs each process model in a forked child: make sure none outlives the worker.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            reader.join(timeout=5)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise LavaError(f"Lava worker failed (exit {proc.returncode}); stderr tail:\n" + _tail(err_path))
    try:
        meta = json.loads((job / "result.json").read_text())
        with np.load(job / "result.npz") as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise LavaError(f"Lava worker wrote no readable result ({exc}); stderr tail:\n" + _tail(err_path)) \
            from None
    return meta, arrays, wall


@dataclass
class LavaSDResult:
    """A sigma-delta run in Lava: every graded message (``rasters[l]``, (B, steps, N_l) int32; -1 is
    the input encoder), the output's running sum (``readout``), and timings (seconds)."""

    rasters: dict[int, np.ndarray]
    readout: np.ndarray
    build_s: float
    run_s: float
    per_sample_s: list[float]
    wall_s: float


def run_lava_sd(net: SNNNetwork, values: np.ndarray, timeout_s: float = 600.0,
                progress: Callable[[int, int], None] | None = None) -> LavaSDResult:
    """Run B streams of input values (B, steps, n_in) through a sigma-delta ``net`` in Lava fixed_pt."""
    status = lava_status()
    if status is not True:
        raise LavaError(str(status))
    values = np.asarray(values, dtype=np.int32)
    steps = values.shape[1]
    with tempfile.TemporaryDirectory(prefix="neuroedge-lava-") as tmp:
        job = Path(tmp)
        save_network(net, job)
        np.save(job / "values.npy", values)
        (job / "request.json").write_text(json.dumps({"steps": steps, "neuron": "sigma-delta"}))
        meta, arrays, wall = _run_worker(job, timeout_s, progress)
    rasters = {-1: arrays["msgs_in"]} | {i: arrays[f"msgs{i}"] for i in range(net.depth)}
    readout = np.cumsum(rasters[net.depth - 1].astype(np.int64), axis=1)
    return LavaSDResult(rasters, readout, float(meta["build_s"] or 0.0), float(meta["run_s"]),
                        [float(s) for s in meta["per_sample_s"]], wall)


def _read_progress(proc: subprocess.Popen, progress: Callable[[int, int], None] | None) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("progress ") and progress is not None:
            done, total = line.split()[1].split("/")
            progress(int(done), int(total))


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no stderr)"
    return text[-STDERR_TAIL:] if text.strip() else "(stderr empty)"

