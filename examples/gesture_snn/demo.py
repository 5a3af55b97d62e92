"""DVS gesture -> Loihi SNN: the Massa et al. 2020 pipeline on the synthetic DVS gesture set.

    .venv/bin/python examples/gesture_snn/demo.py [--samples 660] [--lava-samples 2] [--lava-timesteps 8]

Steps: generate the synthetic recordings and train the gesture CNN once (cached under
.cache/gesture_snn by ``train.ensure_trained``) -> ``to-snn`` bundle (percentile normalisation on
training frames, Loihi fixed point, NIR) -> the held-out subjects' frames on ``snn-fast`` at
T=64 and T=256 next to the DNN -> ``--lava-samples`` frames in Lava (``loihi-sim``) for a short T,
compared spike for spike on every layer -> Loihi 1 / 2 cores (the paper used 37 Loihi cores) and
the snn-fast vs Lava speed ratio. Lava runs the conv layers in Python at about a second or more per
step here, hence the short T for it; snn-fast and Lava agree at every step, so a short T proves the match.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from examples.gesture_snn.model import load_trained  # noqa: E402
from examples.gesture_snn.train import CALIBRATION, ensure_trained  # noqa: E402
from examples.snn_showcase import run_showcase  # noqa: E402

SD_THRESHOLD = 0.001  # chosen on the validation half by benchmarks/snn.py, as in pipeline_sdnn.toml
PAPER_CORES = 37  # Massa et al. 2020, their gesture CNN on Loihi (89.64% at 256 timesteps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=660, help="held-out frames for snn-fast (all: 660)")
    ap.add_argument("--lava-samples", type=int, default=2)
    ap.add_argument("--lava-timesteps", type=int, default=8)
    ap.add_argument("--layers", action="store_true", help="print the layer-by-layer report too")
    args = ap.parse_args()
    console = Console()
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    console.rule("gesture CNN (synthetic DVS gesture, held-out subjects)")
    weights = ensure_trained()  # trains with its own progress bars the first time, else a cache hit
    model = load_trained(weights)
    from examples.gesture_snn.data import test_set

    with console.status("loading held-out frames"):
        x_te, y_te = test_set()
    x_te, y_te = x_te[: args.samples], y_te[: args.samples]
    with torch.inference_mode():
        dnn = float((model(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean() * 100)
    console.print(f"DNN: {dnn:.2f}% per frame on {len(y_te)} held-out frames ({weights})")
    console.rule("to-snn -> snn-fast -> loihi-sim")
    run_showcase("gesture_cnn", model, np.load(CALIBRATION), x_te, y_te, dnn, timesteps=(64, 256),
                 lava_samples=args.lava_samples, lava_timesteps=args.lava_timesteps, paper_cores=PAPER_CORES,
                 layer_table=args.layers, console=console)
    sigma_delta(console, model, x_te, y_te, dnn)
    console.print(f"total {time.perf_counter() - t0:.0f} s")


def sigma_delta(console: Console, model: torch.nn.Module, x_te: np.ndarray, y_te: np.ndarray, dnn: float) -> None:
    """The Loihi 2 way: `neuroedge compile pipeline_sdnn.toml`, then the held-out recordings as streams."""
    import subprocess
    import tempfile
    import warnings

    from rich.table import Table

    from benchmarks.snn_sdnn import gesture_splits
    from neuroedge.converters.snn import convert_model
    from neuroedge.snn import encoding
    from neuroedge.targets.loihi import fast, fast_sd

    console.rule("to-snn neuron=sigma-delta (Loihi 2 graded messages) -> snn-fast")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(REPO / ".venv" / "bin" / "neuroedge"), "compile", "examples/gesture_snn/pipeline_sdnn.toml",
               "-o", f"{tmp}/sdnn"]
        console.print("$ " + " ".join(cmd[1:]))
        subprocess.run(cmd, cwd=REPO, check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sd = convert_model(model, np.load(CALIBRATION), neuron="sigma-delta", delta_threshold=SD_THRESHOLD)
        rate = convert_model(model, np.load(CALIBRATION))
    xt, yt, rec = gesture_splits()["test"]  # the benchmark's test half of the held-out recordings
    n = len(xt)
    scores, res = fast_sd.run_streams(sd.network, xt, rec)
    r = fast.simulate(rate.network, encoding.encode(xt, rate.network.input_scale, 256 + rate.network.depth))
    with torch.inference_mode():
        dnn = float((model(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean() * 100)
    table = Table(title=f"the {n} frames of the held-out test half: sigma-delta streams (one per recording) "
                        "vs rate coding")
    for col in ("network", "accuracy", "synaptic ops per classification"):
        table.add_column(col, justify="right")
    table.add_row("DNN", f"{dnn:.2f}%", "")
    table.add_row(f"sigma-delta, threshold {SD_THRESHOLD}", f"{(scores.argmax(1) == yt).mean() * 100:.2f}%",
                  f"{res.synops.sum() / n:,.0f}")
    table.add_row("rate-coded LIF, T=256", f"{(r.readout.argmax(1) == yt).mean() * 100:.2f}%",
                  f"{np.mean(r.synops):,.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
