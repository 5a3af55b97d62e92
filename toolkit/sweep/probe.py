"""The reference probe: sweep latencies relative to the machine's speed at the moment they were taken.

A shared machine changes speed for seconds at a time (on this project's 2-vCPU VM one point's p50
changed by up to 2x between two identical serial sweeps), so a p50 alone ranks the moment it was
measured in as much as the design. Every CPU benchmark in a sweep is therefore bracketed by a
**probe**: a small fixed ONNX graph (``probe_model``, a 64-256-256-10 MLP with seeded weights)
timed for about 15-20 ms, on the point's target and thread settings, in the same slot, right before
and right after the point. The point's relative p50 is its p50 divided by the mean of the two probe
p50s: a slow spell slows the probe and the point alike and cancels out.

* Neighbouring points share a probe: the probe after one point is the probe before the next when it
  was taken in the same slot less than ``SHARE_WINDOW_S`` ago with the same settings.
* If the two probes around a point differ by more than ``TOLERANCE`` (10%), the machine changed speed
  during the point: it is measured again (the last probe is the new "before"), at most
  ``MAX_REMEASURE`` (2) times, and the record says so (``remeasured``, ``steady``).
* Where the point's target and the probe both time their call in this process (onnxruntime, torch),
  the two are timed in alternating chunks of a few milliseconds instead (``neuroedge.sweep.paired``):
  the machine also changes speed over milliseconds, which a bracket 15 ms away does not see.
* A target that runs ONNX runs the probe itself, with the point's options: onnxruntime, torch (eager,
  from the probe bundle's torch reference), jetson (on the board). A slow spell hits a 1 ms torch
  eager call differently from a 10 µs onnxruntime call, so each is divided by its own target's probe;
  the report puts every point back in µs at the sweep's median probe speed of its own probe
  (``neuroedge.sweep_report.normalise``). A CPU target that cannot run ONNX (snn-fast) gets the probe
  in onnxruntime at the same thread count. A board that cannot (mcu) gets no probe: the record says
  why, and its p50 stays raw.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuroedge.bench import BenchConfig
from neuroedge.bundle import atomic_write_json

PROBE_VERSION = 1
PROBE_REF = "neuroedge.sweep.probe:probe_model"
PROBE_SHAPE = (1, 64)
TOLERANCE = 0.10
MAX_REMEASURE = 2
SHARE_WINDOW_S = 2.0
USUAL_MAX_AGE_S = 3600.0  # the node's usual probe speed is its fastest within the last hour
# ~12 µs per call on this CPU: 15 ms of timing is over a thousand calls, a stable p50, and cheap.
PROBE_BENCH = BenchConfig(iterations=500, warmup=100, min_duration_s=0.015, rounds=1, progress=False, warn=False)


def probe_model() -> Any:
    """The fixed probe network: Linear 64-256, ReLU, 256-256, ReLU, 256-10, weights seeded with 0."""
    import torch

    gen = torch.Generator().manual_seed(0)
    layers = []
    for fan_in, fan_out in ((64, 256), (256, 256), (256, 10)):
        lin = torch.nn.Linear(fan_in, fan_out)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(fan_out, fan_in, generator=gen) / fan_in**0.5)
            lin.bias.copy_(torch.randn(fan_out, generator=gen) * 0.1)
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).eval()


def probe_bundle(lock_dir: Path) -> Any:
    """The probe as an ``onnx`` bundle under ``lock_dir`` (exported once per node, under a lock)."""
    from neuroedge import registry
    from neuroedge.bundle import load

    folder = Path(lock_dir) / f"probe-v{PROBE_VERSION}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder.parent / f"probe-v{PROBE_VERSION}.build.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not (folder / "manifest.json").is_file():
            registry.get_converter("export-onnx")(PROBE_REF, {"input_shape": list(PROBE_SHAPE)}, folder, True)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return load(folder)


def probe_plan(target: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]] | str:
    """Where the probe runs for a point on ``target``: ``(target, options)``, or why it has none.

    A target that runs ONNX runs the probe itself with the point's options (onnxruntime, torch eager
    through the bundle's torch reference, jetson on its board), so the probe feels what the point feels.
    A CPU target that cannot (snn-fast) gets the probe in onnxruntime at the same thread count.
    """
    from neuroedge import registry
    from neuroedge.sweep.isolation import quiet

    name = registry.split_target_spec(str(target))[0]
    spec = registry.get_target(name)
    if "onnx" in spec.formats:
        return str(target), dict(options)
    if quiet(spec.bench_resources):
        return "onnxruntime", ({"threads": int(options["threads"])} if options.get("threads") else {})
    return (f"no probe: the {name} target cannot run the ONNX probe on its device "
            f"({'/'.join(sorted(spec.bench_resources))}), so its p50 is not made relative")


class Bracket:
    """Runs a benchmark between two probes (inside the caller's slot) and re-measures on a speed change.

    ``probe()`` returns one probe p50 in ms. ``share_file`` keeps the last probe of this slot so the next
    point can start from it. Call ``bracket(bench)`` -> ``(report, record)``.
    """

    def __init__(self, probe: Callable[[], float], share_file: Path | None, key: str,
                 tolerance: float = TOLERANCE, max_remeasure: int = MAX_REMEASURE,
                 share_window_s: float = SHARE_WINDOW_S, probe_call: Callable[[], Any] | None = None) -> None:
        self.probe, self.share_file, self.key, self.probe_call = probe, share_file, key, probe_call
        self.tolerance, self.max_remeasure, self.share_window_s = tolerance, max_remeasure, share_window_s

    def _shared(self) -> float | None:
        if self.share_file is None or not self.share_file.is_file():
            return None
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            last = json.loads(self.share_file.read_text())
            if last["key"] == self.key and 0 <= time.time() - float(last["t"]) <= self.share_window_s:
                return float(last["p50_ms"])
        return None

    def _usual_file(self) -> Path | None:
        return None if self.share_file is None else self.share_file.with_name("probe-usual.json")

    def _read_usual(self) -> tuple[dict[str, list[float]], float | None]:
        """The node's usual-speed file, and the fastest probe p50 it holds for this probe and settings
        within ``USUAL_MAX_AGE_S`` (None: not measured lately; an older minimum could mark every later
        point slow for good)."""
        known: dict[str, list[float]] = {}
        path = self._usual_file()
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            known = dict(json.loads(path.read_text()))  # type: ignore[union-attr]
        with contextlib.suppress(KeyError, ValueError, TypeError):
            p50, t = known[self.key]
            if 0 <= time.time() - float(t) <= USUAL_MAX_AGE_S:
                return known, float(p50)
        return known, None

    def _usual(self) -> float | None:
        return self._read_usual()[1]

    def _keep_usual(self, p50_ms: float) -> None:
        path = self._usual_file()
        if path is None:
            return
        known, usual = self._read_usual()
        if usual is None or p50_ms < usual:
            known[self.key] = [p50_ms, time.time()]
        atomic_write_json(path, known)

    def _keep(self, p50_ms: float) -> None:
        if self.share_file is None:
            return
        atomic_write_json(self.share_file, {"key": self.key, "p50_ms": p50_ms, "t": time.time()})

    def __call__(self, bench: Callable[[], Any], runner: Any = None, inputs: list[Any] | None = None,
                 config: BenchConfig | None = None) -> tuple[Any, dict[str, Any]]:
        """``bench()`` between probes; or, where the probe and the point both give their timed call in
        this process (``runner.bench_call``), the two timed in alternating chunks (``neuroedge.sweep.paired``)."""
        if self.probe_call is not None and config is not None and hasattr(runner, "bench_call"):
            from neuroedge.sweep.paired import PAIRED_TOLERANCE, paired_measure

            report, record = paired_measure(runner.bench_call(inputs), self.probe_call, config,
                                            str(getattr(runner, "target", "point")), runner.settings(),
                                            min(self.tolerance, PAIRED_TOLERANCE), self.max_remeasure, self.key,
                                            usual_probe_ms=self._usual())
            self._keep_usual(record["probe_p50_ms"])
            return report, record
        t_probe = 0.0
        shared = self._shared()
        if shared is None:
            t0 = time.perf_counter()
            before = self.probe()
            t_probe += time.perf_counter() - t0
        else:
            before = shared
        changes: list[float] = []
        for attempt in range(self.max_remeasure + 1):
            report = bench()
            t0 = time.perf_counter()
            after = self.probe()
            t_probe += time.perf_counter() - t0
            change = abs(after - before) / min(after, before)
            changes.append(round(change * 100, 2))
            if change <= self.tolerance or attempt == self.max_remeasure:
                break
            before = after  # the machine changed speed: measure the point again from this probe
        self._keep(after)
        mean = (before + after) / 2
        return report, {
            "mode": "bracket", "probe_before_p50_ms": before, "probe_after_p50_ms": after, "probe_p50_ms": mean,
            "relative_p50": report.p50_ms / mean, "probe_change_pct": changes, "remeasured": len(changes) - 1,
            "steady": changes[-1] <= self.tolerance * 100, "shared_before": shared is not None and len(changes) == 1,
            "probe_s": round(t_probe, 4), "key": self.key,
        }


_RUNNERS: dict[str, Any] = {}  # in a worker: probe runners kept open across points


def bracket_for(config: dict[str, Any], lock_dir: Path) -> tuple[Bracket | None, str | None]:
    """The bracket for a config's benchmark, or ``(None, why)`` where the target gets no probe."""
    from neuroedge import registry

    target = config.get("target", {})
    plan = probe_plan(target["name"], target.get("options", {}))
    if isinstance(plan, str):
        return None, plan
    name, options = plan
    key = json.dumps([PROBE_VERSION, name, options], sort_keys=True)
    if key not in _RUNNERS:
        _RUNNERS[key] = registry.open_runner(probe_bundle(lock_dir), name, options)
    runner = _RUNNERS[key]
    x = [PROBE_INPUT]
    resources = sorted(registry.get_target(registry.split_target_spec(str(target["name"]))[0]).bench_resources)
    share = Path(lock_dir) / f"probe-last-{'-'.join(resources)}.json"
    call = runner.bench_call(x) if hasattr(runner, "bench_call") else None
    return Bracket(lambda: runner.benchmark(x, PROBE_BENCH).p50_ms, share, key, probe_call=call), None


def probe_key(record: dict[str, Any]) -> str:
    """Which probe a point was divided by (points with the same key share one unit)."""
    return str((record.get("probe") or {}).get("key", ""))


def _input() -> Any:
    import numpy as np

    return np.random.default_rng(0).random(PROBE_SHAPE, dtype=np.float32)


PROBE_INPUT = _input()
