"""DNN -> SNN on sklearn's digits: convert the digits CNN for Loihi, run it on snn-fast and in Lava.

    .venv/bin/python examples/snn_digits/demo.py [--samples 300] [--lava-samples 2] [--model digits_cnn]

Steps: train (or load from .cache/digits) -> ``to-snn`` bundle (check, percentile normalisation,
Loihi fixed point, NIR) -> accuracy vs timesteps on ``snn-fast`` -> the layer-by-layer report ->
a few samples in Lava (``loihi-sim``), compared spike for spike -> cores and speed. The shared steps
live in ``examples/snn_showcase.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from examples.digits.train import FACTORIES, accuracy, ensure_trained  # noqa: E402
from examples.snn_showcase import run_showcase  # noqa: E402
from neuroedge.data.digits import as_images, load_digits_split  # noqa: E402
from neuroedge.modelref import load_state_dict  # noqa: E402


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
    x_te, y_te = x_te[: args.samples], y_te[: args.samples]
    dnn_acc = accuracy(model, args.model, x_te, y_te)
    if args.model == "digits_cnn":
        x_tr, x_te = as_images(x_tr), as_images(x_te)
    run_showcase(args.model, model, x_tr[:500], x_te, y_te, dnn_acc, lava_samples=args.lava_samples,
                 lava_timesteps=args.lava_timesteps, console=console)


if __name__ == "__main__":
    main()
