"""Runners for snn-loihi bundles: ``snn-fast`` (in process) and ``loihi-sim`` (Lava, subprocess).

Both take the DNN's input (float, the bundle's input spec), encode it to spikes the same way
(``neuroedge.snn.encoding``), run ``timesteps + depth`` steps (the pipeline delay, one
step per synaptic layer, is added so the output layer integrates ``timesteps`` steps of input), and
return the class scores ``count + v / (vth << 6)`` of the output layer, shape (B, n_classes).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from neuroedge.bench import BenchConfig, LatencyReport, time_callable
from neuroedge.bundle import Bundle, TensorSpec
from neuroedge.registry import check_inputs
from neuroedge.snn import encoding
from neuroedge.snn.network import SNNNetwork, load_network
from neuroedge.snn.resources import core_report, energy_uj
from neuroedge.targets.loihi import fast_sd
from neuroedge.targets.loihi.fast import SimResult, run_steps, simulate
from neuroedge.targets.loihi.lava import LavaResult, run_lava, run_lava_sd


class SNNRunner:
    """Shared by both targets; ``backend`` is "fast" or "lava"."""

    def __init__(self, bundle: Bundle, options: Any, backend: str) -> None:
        self.bundle = bundle
        self.backend = backend
        self.target = "snn-fast" if backend == "fast" else "loihi-sim"
        self.net: SNNNetwork = load_network(bundle.path)
        self.timesteps = int(options.timesteps or bundle.manifest.extra["timesteps"])
        self.timeout_s = float(options.timeout_s)
        self.inputs: tuple[TensorSpec, ...] = bundle.manifest.inputs
        self.outputs: tuple[TensorSpec, ...] = bundle.manifest.outputs
        self.last: SimResult | LavaResult | None = None
        # Totals over every run() since the runner opened (what an evaluation cost), for resources()
        self.ran = {"frames": 0, "synops": 0.0, "messages": 0.0}

    @property
    def steps(self) -> int:
        return run_steps(self.net, self.timesteps)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return encoding.encode(x, self.net.input_scale, self.steps)

    def simulate(self, x: np.ndarray, record: tuple[int, ...] | bool = ()) -> SimResult | LavaResult:
        """Full results (counts, rasters of ``record``ed layers, readout) for a batch of DNN inputs."""
        if self.net.neuron == "sigma-delta":
            return self._simulate_sd(x, record)
        spikes = self.encode(x)
        if self.backend == "fast":
            self.last = simulate(self.net, spikes, record=record)
        else:
            rec = tuple(range(self.net.depth)) if record is True else tuple(record or ())
            self.last = run_lava(self.net, spikes, record=rec, timeout_s=self.timeout_s)
        return self.last

    def _simulate_sd(self, x: np.ndarray, record: tuple[int, ...] | bool = ()) -> Any:
        """Sigma-delta: the batch is one stream of frames in time order, one frame per step, each
        answer read ``depth`` steps after its frame entered (see ``fast_sd``)."""
        values = fast_sd.stream(x, self.net)
        if self.backend == "fast":
            self.last = fast_sd.simulate_sd(self.net, values, record)
        else:
            self.last = run_lava_sd(self.net, values, timeout_s=self.timeout_s)
        return self.last

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        (x,) = check_inputs(self.inputs, inputs)
        if self.net.neuron == "sigma-delta":
            res = self._simulate_sd(x)
            self._count(len(x), res)
            return [res.readout[0, self.net.depth:self.net.depth + len(x)].astype(np.float32)]
        res = self.simulate(x)
        self._count(len(x), res)
        return [res.readout.astype(np.float32)]

    def _count(self, n: int, res: Any) -> None:
        if hasattr(res, "synops"):
            self.ran["frames"] += n
            self.ran["synops"] += float(np.sum(res.synops))
            if hasattr(res, "messages"):
                self.ran["messages"] += float(sum(v.sum() for v in res.messages.values()))

    def benchmark(self, inputs: list[np.ndarray], config: BenchConfig) -> LatencyReport:
        (x,) = check_inputs(self.inputs, inputs)
        if self.net.neuron == "sigma-delta":
            if self.backend != "fast":
                res = self._simulate_sd(x)
                samples = np.asarray(res.per_sample_s) * 1000.0 / len(x)
                return LatencyReport(self.target, samples, warmup_iterations=0, batch=len(x),
                                     settings=self.settings())
            cfg = replace(config, iterations=max(1, min(config.iterations, 10) // (config.rounds or 2)),
                          warmup=min(config.warmup, 1), rounds=config.rounds or 2, batch=len(x), min_duration_s=0.0)
            values = fast_sd.stream(x, self.net)
            return time_callable(lambda: fast_sd.simulate_sd(self.net, values), cfg, self.target, self.settings())
        spikes = self.encode(x)
        if self.backend == "fast":
            # One call simulates the whole batch for timesteps + depth steps (seconds, not µs):
            # cap the repetitions so a default 1000-iteration config stays a short run.
            rounds = config.rounds or 2
            per_round = max(1, min(config.iterations, 10) // rounds)
            cfg = replace(config, iterations=per_round, warmup=min(config.warmup, 1), rounds=rounds,
                          batch=len(x), min_duration_s=0.0)
            settings = {**self.settings(), "iterations_capped_at": per_round * rounds,
                        "iteration_cap_reason": "snn-fast caps a benchmark at 10 calls (each simulates the "
                                                "whole batch for every timestep)"}
            return time_callable(lambda: simulate(self.net, spikes), cfg, self.target, settings)
        # One Lava run per benchmark: per-sample times from the worker, compile excluded.
        res = run_lava(self.net, spikes, timeout_s=self.timeout_s)
        samples = np.asarray(res.per_sample_s[1:] or res.per_sample_s) * 1000.0
        return LatencyReport(self.target, samples, warmup_iterations=1, batch=1, settings=self.settings())

    def resources(self) -> dict[str, Any]:
        """Cores, and the operations of every ``run()`` so far (an evaluation), per frame or sample.

        Sigma-delta: each ``run()`` is one stream from a zero state, so a compile or sweep, which
        runs each frame alone, reports the cold cost of a frame (every activation sent from zero).
        """
        out = core_report(self.net)
        n = self.ran["frames"]
        if n == 0:
            return out
        basis = f"mean over the {n} inputs run since the runner opened (an evaluation)"
        if self.net.neuron == "sigma-delta":
            out["synops_per_frame"] = self.ran["synops"] / n
            out["messages_per_frame"] = self.ran["messages"] / n
            out["energy_uj_per_frame"] = energy_uj(out["synops_per_frame"])["energy_uj_per_sample"]
            out["synops_basis"] = basis + "; each run() is its own stream from a zero state"
            return out
        neurons = sum(int(np.prod(layer.out_shape)) for layer in self.net.layers)
        out["synops_per_sample"] = self.ran["synops"] / n
        out["synops_basis"] = basis
        out.update(energy_uj(out["synops_per_sample"], neurons, self.steps))
        return out

    def settings(self) -> dict[str, Any]:
        if self.net.neuron == "sigma-delta":
            return {"neuron": "sigma-delta", "pipeline_delay": self.net.depth,
                    "encoding": "one frame per step, delta-encoded graded messages; answers read with their delay",
                    "backend": "numpy fixed point" if self.backend == "fast" else "lava-nc Loihi2SimCfg fixed_pt"}
        return {"timesteps": self.timesteps, "steps_run": self.steps, "pipeline_delay": self.net.depth,
                "encoding": "deterministic rate, binary spikes (num_message_bits=0)",
                "reset": sorted({layer.neuron.reset for layer in self.net.layers}),
                "backend": "numpy fixed point" if self.backend == "fast" else "lava-nc Loihi2SimCfg fixed_pt"}

    def close(self) -> None:
        self.last = None
