"""Evaluation shared by the benchmark, the demo and the command line: families, filters, RIANN, latency.

* ``family_data``: a family's validation split (filter tuning) and test split, disjoint seeds, each
  sequence with its own rate and sensor.
* ``tune_filters`` / ``score_filters``: every classical filter tuned on that family's validation split,
  then scored on its test split (that favours the filters, as it should). ``load_or_tune_filters``
  caches a family's tuning by a content hash of the filters' and the generator's source and of the split,
  so a change to the model does not tune the filters again (minutes per family).
* ``score_model``: the compiled model (``AttitudeModel.run``) per sequence.
* ``step_latency``: one streaming step of the model against one step of RIANN in onnxruntime (1 thread, IO
  binding), interleaved in rounds in this one process, so both see the same machine load.
* ``recording_seconds``: one 120 s recording at 200 Hz through the whole-recording path.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuroedge.imu.baselines import BASELINES, at_edge, evaluate, run_riann, score, tune
from neuroedge.imu.cache_seed import fetch
from neuroedge.imu.families import ImuSequence, generate_split
from neuroedge.imu.fast import AttitudeModel


def family_data(family: str, n_val: int, n_test: int, val_s: float, test_s: float,
                ) -> tuple[list[ImuSequence], list[ImuSequence]]:
    return generate_split("val", family, n_val, val_s), generate_split("test", family, n_test, test_s)


def tune_filters(val: Sequence[ImuSequence], names: Sequence[str] | None = None,
                 log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """``{name: {"params", "val_tilt_deg", "at_edge", "past_grid"}}``: ``tune`` on ``val`` per filter."""
    out = {}
    for name in names or BASELINES:
        params, err, tried = tune(BASELINES[name], val)
        out[name] = {"params": params, "val_tilt_deg": err, "at_edge": at_edge(params, tried),
                     "past_grid": {k: v[len(BASELINES[name].grid[k]):] for k, v in tried.items()
                                   if len(v) > len(BASELINES[name].grid[k])}}
        if log:
            log(f"tuned {name}: {params} -> {err:.2f}° on validation")
    return out


# A family's filter tuning split (count, seconds): as large as the test split; 3 x 30 s chose settings by
# noise (handheld's VQF without its motion-bias estimation).
FILTER_VAL_SPLIT = (10, 40.0)
FILTER_SOURCES = ("baselines.py", "classic.py", "families.py", "quaternion.py")


def filter_key(family: str, n_val: int, val_s: float) -> str:
    """Content hash of a family's filter tuning: its validation split and the code that makes and scores it."""
    here = Path(__file__).resolve().parent
    blob = json.dumps([family, n_val, val_s]).encode()
    for name in FILTER_SOURCES:
        blob += (here / name).read_bytes()
    return hashlib.sha256(blob).hexdigest()[:12]


def load_or_tune_filters(family: str, n_val: int, val_s: float, cache_dir: Path,
                         log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """``tune_filters`` on ``family``'s validation split (``n_val`` x ``val_s``), cached by ``filter_key``."""
    from neuroedge.bundle import atomic_write_bytes

    key = filter_key(family, n_val, val_s)
    path = Path(cache_dir) / f"filters-{family}-{key}.json"
    fetch(Path(cache_dir), (path.name,))  # the committed copy, if any (``neuroedge.imu.cache_seed``)
    if path.is_file():
        return json.loads(path.read_text())
    tuned = tune_filters(generate_split("val", family, n_val, val_s), log=log)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(tuned, indent=1).encode())
    return tuned


def score_filters(seqs: Sequence[ImuSequence], tuned: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each filter at its tuned parameters on ``seqs``: tilt, rotation, µs per sample, the parameters."""
    return {name: {**evaluate(BASELINES[name].run, seqs, entry["params"]), "params": entry["params"],
                   "val_tilt_deg": entry.get("val_tilt_deg"), "at_edge": entry.get("at_edge", [])}
            for name, entry in tuned.items()}


def score_run(run: Callable[[ImuSequence], np.ndarray], seqs: Sequence[ImuSequence]) -> dict[str, Any]:
    t0 = time.perf_counter()
    qs = [run(s) for s in seqs]
    seconds = time.perf_counter() - t0
    scores = [score(q, s) for q, s in zip(qs, seqs, strict=True)]
    return {"tilt_deg": float(np.mean([s["tilt_deg"] for s in scores])),
            "rotation_deg": float(np.mean([s["rotation_deg"] for s in scores])),
            "per_sequence_tilt_deg": [round(s["tilt_deg"], 3) for s in scores],
            "us_per_sample": 1e6 * seconds / sum(len(s) for s in seqs)}


def score_model(model: AttitudeModel, seqs: Sequence[ImuSequence]) -> dict[str, Any]:
    return score_run(lambda s: model.run(s.acc, s.gyr, s.rate_hz), seqs)


def score_riann(seqs: Sequence[ImuSequence]) -> dict[str, Any]:
    return score_run(run_riann, seqs)


def _riann_step() -> Callable[[], None]:
    """One RIANN step in onnxruntime, 1 thread, IO binding reused across calls (its fastest form here)."""
    import onnxruntime as ort

    from neuroedge.imu.baselines import riann_onnx_path

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(riann_onnx_path(), opts, providers=["CPUExecutionProvider"])
    x = np.zeros((1, 1, 7), dtype=np.float32)
    x[0, 0, 2], x[0, 0, 6] = 9.81, 1 / 200.0
    h = np.zeros((2, 1, 1, 200), dtype=np.float32)
    y, hn = np.zeros((1, 1, 4), dtype=np.float32), np.zeros_like(h)
    binding = sess.io_binding()
    binding.bind_cpu_input("input", x)
    binding.bind_cpu_input("h0", h)
    binding.bind_output("output", "cpu", 0, np.float32, y.shape, y.ctypes.data)
    binding.bind_output("hn", "cpu", 0, np.float32, hn.shape, hn.ctypes.data)

    def step() -> None:
        sess.run_with_iobinding(binding)
        h[...] = hn  # the state carried, as a streaming caller must
    return step


def step_latency(model: AttitudeModel, rounds: int = 20, per_round: int = 500) -> dict[str, Any]:
    """p50/p90 µs of one model step and one RIANN step, in alternating rounds in this process
    (``neuroedge.bench.interleaved_rounds``), so a slow spell of the machine lands on both alike."""
    from neuroedge.bench import interleaved_rounds

    stream = model.stream(np.array([0.3, -0.2, 9.7]), 200.0)
    acc, gyr = np.array([0.3, -0.2, 9.7]), np.array([0.01, -0.02, 0.03])
    riann = _riann_step()
    calls = {"model": lambda: stream.step(acc, gyr), "riann": riann}
    for fn in calls.values():  # warm-up (compiles, allocates)
        for _ in range(200):
            fn()
    clock = time.perf_counter_ns

    def timed(fn: Callable[[], Any]) -> Callable[[], np.ndarray]:
        def one_round() -> np.ndarray:
            out = np.empty(per_round)
            for k in range(per_round):
                t0 = clock()
                fn()
                out[k] = (clock() - t0) / 1e6
            return out
        return one_round

    res_ms = interleaved_rounds({k: timed(fn) for k, fn in calls.items()}, rounds)
    res: dict[str, Any] = {}
    for k, (ms, _sizes) in res_ms.items():
        res[f"{k}_step_p50_us"] = float(np.percentile(ms, 50) * 1000)
        res[f"{k}_step_p90_us"] = float(np.percentile(ms, 90) * 1000)
    res["ratio_p50"] = res["model_step_p50_us"] / res["riann_step_p50_us"]
    res["method"] = f"{rounds} alternating rounds of {per_round} calls each, perf_counter_ns around each call"
    return res


def recording_seconds(model: AttitudeModel, repeats: int = 3) -> dict[str, Any]:
    """Wall time of ``AttitudeModel.run`` on one 120 s recording at 200 Hz (24,000 steps): the median of runs."""
    seq = generate_split("test", "handheld", 1, 120.0, rate_hz=200.0)[0]
    model.run(seq.acc[:10], seq.gyr[:10], seq.rate_hz)  # compiled already (cache); this pays any load
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.run(seq.acc, seq.gyr, seq.rate_hz)
        times.append(time.perf_counter() - t0)
    return {"recording_120s_seconds": float(np.median(times)), "runs_s": times, "samples": len(seq)}
