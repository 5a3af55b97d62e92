"""DNN -> SNN on sklearn's digits: convert the digits CNN for Loihi, run it on snn-fast and in Lava.

    .venv/bin/python examples/snn_digits/demo.py [--samples 300] [--lava-samples 2] [--model digits_cnn]

Steps: train (or load from .cache/digits) -> ``to-snn`` bundle (check, percentile normalisation,
Loihi fixed point, NIR) -> accuracy vs timesteps on ``snn-fast`` -> the layer-by-layer report ->
a few samples in Lava (``loihi-sim``), compared spike for spike -> cores and speed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from examples.digits.train import FACTORIES, accuracy, ensure_trained  # noqa: E402
from neuroedge.bundle import load  # noqa: E402
from neuroedge.converters.snn import CONVERTER, SNNParams  # noqa: E402
from neuroedge.converters.snn.report import format_report, layer_report  # noqa: E402
from neuroedge.data.digits import as_images, load_digits_split  # noqa: E402
from neuroedge.modelref import load_state_dict  # noqa: E402
from neuroedge.registry import open_runner, target_status  # noqa: E402
from neuroedge.snn.network import load_network  # noqa: E402
from neuroedge.targets.loihi import fast  # noqa: E402
from neuroedge.targets.loihi.lava import run_lava  # noqa: E402

TIMESTEPS = (32, 64, 128, 256)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(FACTORIES), default="digits_cnn")
    ap.add_argument("--samples", type=int, default=300, help="test samples for snn-fast")
    ap.add_argument("--lava-samples", type=int, default=2)
    ap.add_argument("--lava-timesteps", type=int, default=32)
    args = ap.parse_args()
    console = Console()
    torch.set_num_threads(1)

    with console.status(f"training / loading {args.model} (.cache/digits)"):
        model = FACTORIES[args.model]()
        model.load_state_dict(load_state_dict(ensure_trained(args.model)))
        model.eval()
    x_tr, _, x_te, y_te = load_digits_split(0)
    dnn_acc = accuracy(model, args.model, x_te, y_te)
    img = args.model == "digits_cnn"
    x_tr, x_te = (as_images(x_tr), as_images(x_te)) if img else (x_tr, x_te)
    x_te, y_te = x_te[: args.samples], y_te[: args.samples]

    work = Path(tempfile.mkdtemp(prefix="snn-digits-"))
    np.save(work / "calib.npy", x_tr[:500])
    with console.status("converting: check, BN folding, percentile normalisation, Loihi fixed point, NIR"):
        bundle = CONVERTER.convert(model, SNNParams(calibration=str(work / "calib.npy")), work / "bundle", True)
    bundle = load(bundle.path)
    net = load_network(bundle.path)
    console.print(f"bundle: {bundle.path} ({', '.join(sorted(bundle.manifest.files))})")

    runner = open_runner(bundle, "snn-fast", {"timesteps": max(TIMESTEPS)})
    at = tuple(t + net.depth for t in TIMESTEPS)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"snn-fast: {len(x_te)} samples x {max(TIMESTEPS) + net.depth} steps", total=1)
        t0 = time.perf_counter()
        res = fast.simulate(net, runner.encode(x_te), readout_at=at)
        fast_s = time.perf_counter() - t0
        progress.update(task, completed=1)
    accs = {t: float((res.readout_at[t + net.depth].argmax(1) == y_te).mean() * 100) for t in TIMESTEPS}
    dnn_sub = accuracy(model, args.model, load_digits_split(0)[2][: args.samples], y_te)

    from neuroedge.converters.snn import convert_model

    conv = convert_model(model, x_tr[:500])
    console.print("\n[bold]layer by layer[/bold] (DNN activation / lambda vs SNN rate, T=256)")
    console.print(format_report(layer_report(conv.float_layers, conv.input_scale, x_te, res.counts, res.readout,
                                             max(TIMESTEPS))))

    lava_line = "skipped: " + str(target_status("loihi-sim"))
    speed = None
    if target_status("loihi-sim") is True and args.lava_samples > 0:
        steps = args.lava_timesteps + net.depth
        from neuroedge.snn.encoding import encode

        spikes = encode(x_te[: args.lava_samples], net.input_scale, steps)
        ref = fast.simulate(net, spikes, record=True)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"loihi-sim (Lava): {args.lava_samples} samples x {steps} steps",
                                     total=args.lava_samples)
            got = run_lava(net, spikes, record=tuple(range(net.depth)),
                           progress=lambda i, n: progress.update(task, completed=i))
        mism = sum(int((ref.spikes[i] != got.spikes[i]).sum()) for i in range(net.depth))
        total = sum(int(ref.spikes[i].sum()) for i in range(net.depth))
        lava_sps = 1.0 / float(np.mean(got.per_sample_s[1:] or got.per_sample_s))
        t0 = time.perf_counter()
        batch = np.concatenate([spikes] * 32)
        fast.simulate(net, batch)
        fast_sps = len(batch) / (time.perf_counter() - t0)
        speed = fast_sps / lava_sps
        lava_line = f"{mism} spike mismatches of {total} spikes over {net.depth} layers"

    cores = bundle.manifest.metrics
    table = Table(title=f"{args.model} -> Loihi SNN ({len(x_te)} test samples)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("DNN accuracy", f"{dnn_sub:.2f}% (full test set {dnn_acc:.2f}%)")
    for t in TIMESTEPS:
        table.add_row(f"fixed-point SNN, T={t}", f"{accs[t]:.2f}%")
    table.add_row("Loihi 1 / Loihi 2 cores", f"{cores['loihi1_cores']} / {cores['loihi2_cores']}")
    table.add_row("synaptic ops per sample (T=256)", f"{float(np.mean(res.synops)):.3g}")
    table.add_row("snn-fast time", f"{fast_s:.1f} s for {len(x_te)} x {max(TIMESTEPS) + net.depth} steps")
    table.add_row("Lava vs snn-fast", lava_line)
    if speed is not None:
        table.add_row("snn-fast / Lava samples per s", f"{speed:.0f}x")
    console.print(table)


if __name__ == "__main__":
    main()
