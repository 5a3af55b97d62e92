"""The shared part of the DNN -> SNN demos (digits, DVS gesture): convert, simulate, compare, tabulate.

``run_showcase`` takes a trained ReLU CNN, calibration inputs and labelled test inputs, and

1. converts it with ``to-snn`` into an ``snn-loihi`` bundle (check, normalisation, Loihi fixed point, NIR);
2. runs every test input once on ``snn-fast`` for ``max(timesteps) + depth`` steps and reads the
   class scores at each T in ``timesteps`` (the input code of a shorter run is a prefix of a longer one);
3. prints the layer-by-layer report (DNN activation / lambda vs SNN rate);
4. runs ``lava_samples`` inputs in Lava (``loihi-sim``) for a short T and compares every layer's
   spikes with ``snn-fast``; the speed ratio is snn-fast (batched) vs Lava samples per second;
5. prints one table: accuracies, Loihi 1 / 2 cores, synaptic operations, spike mismatches, speed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from neuroedge.bundle import load
from neuroedge.converters.snn import CONVERTER, SNNParams, convert_model
from neuroedge.converters.snn.report import format_report, layer_report
from neuroedge.registry import target_status
from neuroedge.snn.encoding import encode
from neuroedge.snn.network import load_network
from neuroedge.targets.loihi import fast
from neuroedge.targets.loihi.lava import run_lava


@dataclass
class ShowcaseResult:
    accuracy: dict[int, float]  # fixed-point SNN accuracy (%) at each T
    loihi1_cores: int
    loihi2_cores: int
    synops_per_sample: float
    spike_mismatches: int | None = None
    spikes_compared: int | None = None
    fast_vs_lava_speedup: float | None = None
    extra: dict = field(default_factory=dict)


def _bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def simulate_chunks(net, x: np.ndarray, steps: int, readout_at: tuple[int, ...], console: Console,
                    label: str, chunk: int = 64) -> tuple[dict[int, np.ndarray], float]:
    """snn-fast over ``x`` in chunks (for a live progress bar); ({steps: readout}, mean synops)."""
    outs: dict[int, list[np.ndarray]] = {k: [] for k in readout_at}
    synops: list[np.ndarray] = []
    with _bar(console) as progress:
        task = progress.add_task(label, total=len(x))
        for i in range(0, len(x), chunk):
            res = fast.simulate(net, encode(x[i:i + chunk], net.input_scale, steps), readout_at=readout_at)
            for k in readout_at:
                outs[k].append(res.readout_at[k])
            synops.append(np.asarray(res.synops))
            progress.update(task, completed=min(i + chunk, len(x)))
    return {k: np.concatenate(v) for k, v in outs.items()}, float(np.concatenate(synops).mean())


def lava_compare(net, x: np.ndarray, timesteps: int, console: Console) -> dict:
    """Run ``x`` in Lava and on snn-fast with the same input spikes; mismatches and speed."""
    steps = timesteps + net.depth
    spikes = encode(x, net.input_scale, steps)
    ref = fast.simulate(net, spikes, record=True)
    with _bar(console) as progress:
        task = progress.add_task(f"loihi-sim (Lava): {len(x)} samples x {steps} steps", total=len(x))
        got = run_lava(net, spikes, record=tuple(range(net.depth)),
                       progress=lambda i, n: progress.update(task, completed=i))
    per_layer = [(layer.name, int(ref.spikes[i].sum()), int((ref.spikes[i] != got.spikes[i]).sum()))
                 for i, layer in enumerate(net.layers)]
    # Lava's first sample includes compiling; later ones are its steady state.
    lava_sps = 1.0 / float(np.mean(got.per_sample_s[1:] or got.per_sample_s))
    batch = np.concatenate([spikes] * max(1, 64 // len(x)))
    t0 = time.perf_counter()
    fast.simulate(net, batch)
    fast_sps = len(batch) / (time.perf_counter() - t0)
    return {"mismatches": sum(p[2] for p in per_layer), "spikes": sum(p[1] for p in per_layer),
            "per_layer": per_layer, "lava_sps": lava_sps, "fast_sps": fast_sps, "steps": steps,
            "speedup": fast_sps / lava_sps, "build_s": got.build_s}


def run_showcase(name: str, model: torch.nn.Module, calibration: np.ndarray, x_test: np.ndarray,
                 y_test: np.ndarray, dnn_accuracy: float, timesteps: Sequence[int] = (32, 64, 128, 256),
                 lava_samples: int = 2, lava_timesteps: int = 32, paper_cores: int | None = None,
                 layer_table: bool = True, console: Console | None = None,
                 params: SNNParams | None = None) -> ShowcaseResult:
    """Convert ``model`` and show it on snn-fast and Lava (see the module docstring)."""
    console = console or Console()
    timesteps = tuple(sorted(timesteps))
    work = Path(tempfile.mkdtemp(prefix=f"snn-{name}-"))
    np.save(work / "calib.npy", np.asarray(calibration, dtype=np.float32))
    params = params or SNNParams()
    params = SNNParams(**{**params.__dict__, "calibration": str(work / "calib.npy")})
    t0 = time.perf_counter()
    with console.status("to-snn: check, BN folding, percentile normalisation, Loihi fixed point, NIR"):
        bundle = load(CONVERTER.convert(model, params, work / "bundle", True).path)
    net = load_network(bundle.path)
    console.print(f"[green]converted[/green] in {time.perf_counter() - t0:.1f} s: {bundle.path} "
                  f"({', '.join(sorted(bundle.manifest.files))}), {net.depth} synaptic layers")

    steps = max(timesteps) + net.depth
    at = tuple(t + net.depth for t in timesteps)
    t0 = time.perf_counter()
    readouts, synops = simulate_chunks(net, x_test, steps, at, console,
                                       f"snn-fast: {len(x_test)} samples x {steps} steps")
    fast_s = time.perf_counter() - t0
    acc = {t: float((readouts[t + net.depth].argmax(1) == y_test).mean() * 100) for t in timesteps}
    console.print(f"[green]snn-fast[/green]: {len(x_test)} samples x {steps} steps in {fast_s:.1f} s; "
                  + ", ".join(f"T={t}: {a:.2f}%" for t, a in acc.items()))

    if layer_table:
        conv = convert_model(model, np.asarray(calibration, dtype=np.float32)[: params.calibration_samples],
                             params.percentile, params.reset, params.v_init, params.pool)
        n = min(len(x_test), 64)
        res = fast.simulate(net, encode(x_test[:n], net.input_scale, steps))
        console.print(f"\n[bold]layer by layer[/bold] (DNN activation / lambda vs SNN rate, T={max(timesteps)}, "
                      f"{n} samples)")
        console.print(format_report(layer_report(conv.float_layers, conv.input_scale, x_test[:n], res.counts,
                                                 res.readout, max(timesteps))))

    cores = bundle.manifest.metrics
    out = ShowcaseResult(acc, int(cores["loihi1_cores"]), int(cores["loihi2_cores"]), synops)
    status = target_status("loihi-sim")
    lava_line = f"skipped: {status}" if status is not True else "skipped: --lava-samples 0"
    if status is True and lava_samples > 0:
        cmp = lava_compare(net, x_test[:lava_samples], lava_timesteps, console)
        out.spike_mismatches, out.spikes_compared, out.fast_vs_lava_speedup = \
            cmp["mismatches"], cmp["spikes"], cmp["speedup"]
        lava_line = (f"{cmp['mismatches']} mismatches of {cmp['spikes']} spikes, {net.depth} layers, "
                     f"{lava_samples} samples x {cmp['steps']} steps")
        out.extra["lava"] = cmp

    table = Table(title=f"{name} -> Loihi SNN ({len(x_test)} held-out samples)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("DNN accuracy", f"{dnn_accuracy:.2f}%")
    for t in timesteps:
        gap = acc[t] - dnn_accuracy
        table.add_row(f"fixed-point SNN, T={t}", f"{acc[t]:.2f}% ({gap:+.2f})")
    paper = f" (Massa et al. 2020: {paper_cores} Loihi 1 cores)" if paper_cores else ""
    table.add_row("Loihi 1 / Loihi 2 cores", f"{out.loihi1_cores} / {out.loihi2_cores}{paper}")
    table.add_row(f"synaptic ops per sample (T={max(timesteps)})", f"{synops:.3g}")
    table.add_row("snn-fast time", f"{fast_s:.1f} s for {len(x_test)} x {steps} steps")
    table.add_row("Lava vs snn-fast spikes", lava_line)
    if out.fast_vs_lava_speedup is not None:
        table.add_row("snn-fast / Lava samples per s", f"{out.fast_vs_lava_speedup:.0f}x "
                      f"({out.extra['lava']['fast_sps']:.1f} vs {out.extra['lava']['lava_sps']:.3f})")
    console.print(table)
    return out
