"""Shared evaluation for the benchmark and the demo: tune the filters, score everything, time the model.

Kept apart from ``baselines.py`` (the filters) and ``train.py`` (the model) so both callers run the exact
same comparison: the same sequences, the same warm-up, the same metric.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroedge.bench import BenchConfig, time_callable
from neuroedge.imu.baselines import BASELINES, evaluate, score, tune
from neuroedge.imu.export import example_inputs, export_bundle
from neuroedge.imu.families import ImuSequence
from neuroedge.imu.model import AttitudeCell
from neuroedge.imu.train import predict


def tune_all(val: Sequence[ImuSequence], names: Sequence[str] | None = None,
             log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """``{name: {"params": best, "val_tilt_deg": err}}`` from a grid search on the validation split."""
    out = {}
    for name in names or BASELINES:
        params, err = tune(BASELINES[name], val)
        out[name] = {"params": params, "val_tilt_deg": err}
        if log:
            log(f"tuned {name}: {params} -> {err:.2f}° on validation")
    return out


def score_model(model: AttitudeCell, seqs: Sequence[ImuSequence], fixed_core: dict | None = None) -> dict[str, Any]:
    """The model's scores on ``seqs``; with ``fixed_core`` (``{"sigma_v", "tau_v"}``) the network is bypassed."""
    t0 = time.perf_counter()
    if fixed_core is None:
        qs = predict(model, seqs)
    else:
        qs = predict(model, seqs, fixed_sigma_v=fixed_core["sigma_v"], tau_v=fixed_core["tau_v"])
    seconds = time.perf_counter() - t0
    scores = [score(q, s) for q, s in zip(qs, seqs, strict=True)]
    return {"tilt_deg": float(np.mean([s["tilt_deg"] for s in scores])),
            "rotation_deg": float(np.mean([s["rotation_deg"] for s in scores])),
            "per_sequence_tilt_deg": [round(s["tilt_deg"], 3) for s in scores],
            "torch_batched_us_per_sample": 1e6 * seconds / sum(len(s) for s in seqs), "q": qs}


def score_filters(seqs: Sequence[ImuSequence], tuned: dict[str, dict[str, Any]],
                  log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Each filter at its library defaults and at its tuned parameters, on ``seqs``."""
    out = {}
    for name, tuned_entry in tuned.items():
        b = BASELINES[name]
        default = evaluate(b.run, seqs, b.defaults)
        best = evaluate(b.run, seqs, tuned_entry["params"])
        out[name] = {"default": default, "tuned": best, "tuned_params": tuned_entry["params"],
                     "default_params": b.defaults}
        if log:
            log(f"{name}: default {default['tilt_deg']:.2f}°, tuned {best['tilt_deg']:.2f}°")
    return out


def latency(model: AttitudeCell, bundle_dir: Path, config: BenchConfig) -> dict[str, Any]:
    """One streaming step at batch 1: onnxruntime (the neuroedge target) vs torch eager, in one run."""
    from neuroedge.registry import open_runner

    bundle = export_bundle(model, bundle_dir, force=True)
    args = example_inputs(model)
    runner = open_runner(bundle, "onnxruntime")
    ort_report = runner.benchmark([a.numpy() for a in args], config)
    torch.set_num_threads(1)
    model.eval()

    def torch_step() -> None:
        with torch.inference_mode():
            model(*args)

    torch_report = time_callable(torch_step, config, target="torch-eager", settings={"threads": 1})
    return {"onnxruntime": ort_report, "torch": torch_report, "bundle": bundle,
            "onnx_max_abs_error": bundle.manifest.metrics.get("onnx_max_abs_error")}
