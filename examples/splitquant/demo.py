"""SplitQuant end to end on the digits CNN: train (cached), split, quantise, convert, run on onnxruntime.

    .venv/bin/python examples/splitquant/demo.py [--model digits_cnn] [--out demo-out/splitquant]

Prints plain vs SplitQuant accuracy at INT4 and INT2 (same brevitas quantiser and the same bias
correction on 512 training images for both), then writes
a ``splitquant`` bundle (QCDQ ONNX + QONNX + packed INT2 weights) and measures its accuracy on the
``onnxruntime`` target.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.splitquant.models import MODELS  # noqa: E402
from examples.splitquant.train import accuracy, ensure_trained, load_trained  # noqa: E402


def main() -> None:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="digits_cnn", choices=sorted(MODELS))
    ap.add_argument("--scheme", default="paper-mse", help="quantiser (see neuroedge.converters.splitquant.SCHEMES)")
    ap.add_argument("--out", type=Path, default=Path("demo-out/splitquant"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    console = Console()
    spec = MODELS[args.model]

    with Progress(console=console) as progress:
        task = progress.add_task(f"train {args.model} (cached in .cache/splitquant)", total=None)
        weights = ensure_trained(args.model)
        model = load_trained(args.model)
        x_tr, y_tr, x_te, y_te = spec.data(0)
        # bias correction calibrates on training images, never on the test set
        calib_x, calib_y = x_tr[:512], y_tr[:512]
        progress.update(task, total=1, completed=1)

        from neuroedge.converters.splitquant import CONVERTER, quantize_weights, split_layers

        task = progress.add_task("split (k-means, seed 0) and quantise with brevitas", total=4)
        split = split_layers(model, seed=0)
        rows = []
        cal = torch.from_numpy(calib_x)
        for bits in (4, 2):
            plain = accuracy(quantize_weights(model, bits, args.scheme, calibration=cal), x_te, y_te)
            progress.advance(task)
            sq = accuracy(quantize_weights(split, bits, args.scheme, calibration=cal), x_te, y_te)
            progress.advance(task)
            rows.append((bits, plain, sq))

        task = progress.add_task("convert: splitquant INT2 -> QCDQ ONNX + QONNX + packed weights", total=None)
        calib = args.out.parent / f"{args.model}-calibration.npz"
        calib.parent.mkdir(parents=True, exist_ok=True)
        np.savez(calib, x=calib_x, y=calib_y)
        params = CONVERTER.params(bits=2, scheme=args.scheme, weights=str(weights), calibration=str(calib),
                                  input_shape=spec.input_shape)
        bundle = CONVERTER.convert(spec.factory, params, args.out, force=True)
        progress.update(task, total=1, completed=1)

        task = progress.add_task("run the bundle on onnxruntime (batch 1, whole test set)", total=len(x_te))
        from neuroedge.registry import open_runner

        runner = open_runner(bundle, "onnxruntime")
        correct = 0
        try:
            for i in range(len(x_te)):
                correct += int(runner.run([x_te[i : i + 1]])[0].argmax() == y_te[i])
                progress.advance(task)
        finally:
            runner.close()
        ort_acc = 100.0 * correct / len(x_te)

    fp32 = accuracy(model, x_te, y_te)
    table = Table(title=f"{args.model} on sklearn digits ({len(x_te)} test images), quantiser {args.scheme} "
                        "+ bias correction (512 training images)")
    for col in ("weights", "plain %", "SplitQuant %", "gain (points)"):
        table.add_column(col, justify="right")
    table.add_row("FP32", f"{fp32:.2f}", f"{fp32:.2f}", "")
    for bits, plain, sq in rows:
        table.add_row(f"INT{bits}", f"{plain:.2f}", f"{sq:.2f}", f"{sq - plain:+.2f}")
    console.print(table)
    m = bundle.manifest.metrics
    console.print(
        f"bundle {bundle.path}: INT2 SplitQuant on onnxruntime {ort_acc:.2f}% | "
        f"max |ORT - brevitas| {m['qcdq_ort_max_abs_error']:.1e}, |QONNX - brevitas| {m['qonnx_max_abs_error']:.1e}\n"
        f"params {m['params_before']} -> {m['params_after']} after splitting (3x per split layer) | "
        f"QCDQ ONNX {m['onnx_bytes'] / 1024:.1f} KiB vs packed INT2 weights {m['packed_weight_bytes'] / 1024:.1f} KiB "
        f"(file {m['packed_bytes'] / 1024:.1f} KiB)\n"
        "cost: three dense INT2 copies store 6 bits per original weight, more than plain INT4's 4"
    )


if __name__ == "__main__":
    main()
