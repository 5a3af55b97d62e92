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
    console.print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
