"""The microcontroller path end to end, on built-in defaults (under ~2 minutes on 2 cores):

    .venv/bin/python examples/mcu/demo.py [--samples 540] [--device host://,qemu://lm3s6965evb]

digits MLP (trained, cached under .cache/) -> calibrated full-integer INT8 (converter ``mcu``) ->
model blob + C array -> the reference firmware built for the host (pty) and, when qemu-system-arm and
arm-none-eabi-gcc are installed, on an emulated Cortex-M3 (QEMU lm3s6965evb) -> every output compared
bit for bit with the Python integer reference -> a table of agreement, accuracy, size and timings.
QEMU timings are emulator timings: QEMU is not cycle-accurate.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=540, help="digits test samples (540 = the whole split)")
    ap.add_argument(
        "--device", default="", help="comma-separated device URLs (default: host://, plus QEMU if present)"
    )
    args = ap.parse_args()

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from neuroedge.bench import BenchConfig
    from neuroedge.converters.mcu import CONVERTER, McuParams
    from neuroedge.data.digits import load_digits_split, save_split
    from neuroedge.firmware_bridge import launch
    from neuroedge.firmware_bridge import reference as R
    from neuroedge.firmware_bridge.blob import unpack
    from neuroedge.registry import open_runner

    console = Console()
    qemu = launch.qemu_available()
    devices = [d for d in args.device.split(",") if d] or (
        ["host://"] + (["qemu://lm3s6965evb"] if qemu is True else [])
    )
    if qemu is not True and not args.device:
        console.print(f"[yellow]QEMU skipped: {qemu}")

    with console.status("training the digits MLP (cached after the first run)"):
        from examples.digits.train import ensure_trained

        weights = ensure_trained("digits_mlp", cache=REPO / ".cache/digits")
    _, _, x_test, y_test = load_digits_split()
    cal, check = save_split(REPO / ".cache/digits")
    x_test, y_test = x_test[: args.samples], y_test[: args.samples]

    with tempfile.TemporaryDirectory() as tmp, console.status("converting to a full-integer INT8 blob"):
        bundle = CONVERTER.convert(
            "examples.digits.models:digits_mlp",
            McuParams(weights=str(weights), calibration=str(cal), check=str(check)),
            Path(tmp) / "digits-mlp-mcu",
            False,
        )
        blob = bundle.main_file.read_bytes()
        metrics = bundle.manifest.metrics
        console.print(
            f"blob: {len(blob)} bytes ({len(bundle.manifest.extra['layers'])} layers, "
            f"{metrics['macs']} MACs); C array: {bundle.path / 'model_blob.c'}"
        )
        model = unpack(blob)
        spec = bundle.manifest.inputs[0].quant
        xq = R.quantize(x_test, spec.scale, spec.zero_point)
        ref = R.run(model, xq)
        rows = []
        for device in devices:
            with console.status(f"starting {device} and loading the model"):
                t0 = time.perf_counter()
                runner = open_runner(bundle, "mcu", {"device": device})
                start_s = time.perf_counter() - t0
            try:
                out = np.empty_like(ref)
                with Progress(console=console, transient=True) as bar:
                    task = bar.add_task(f"inference on {device}", total=len(xq))
                    for i in range(len(xq)):
                        out[i] = runner.run([xq[i : i + 1]])[0][0]
                        bar.advance(task)
                report = runner.benchmark([xq[:1]], BenchConfig(iterations=100, warmup=5, min_duration_s=0))
                res = runner.resources()
                rows.append((device, runner.timing_label(), out, report, res, start_s))
            finally:
                runner.close()

    table = Table(title=f"digits MLP, INT8, {len(xq)} test samples: firmware vs the Python integer reference")
    for col in (
        "device",
        "bit-exact",
        "int8 acc",
        "agree w/ float",
        "round trip p50",
        "device p50",
        "timing",
    ):
        table.add_column(col)
    for device, label, out, report, _res, _ in rows:
        exact = np.array_equal(out, ref)
        acc = float((R.argmax(out) == y_test).mean())
        table.add_row(
            device,
            "[green]yes[/]" if exact else f"[red]NO ({int((out != ref).any(1).sum())} differ)[/]",
            f"{acc:.4f}",
            f"{metrics['int8_float_top1_agreement']:.4f}",
            f"{report.settings['roundtrip_ms']['p50']:.3f} ms",
            f"{report.p50_ms * 1000:.1f} µs",
            "QEMU emulator, not cycle-accurate"
            if "emulator" in label
            else "host CPU, not an MCU"
            if "host-build" in label
            else label,
        )
    console.print(table)
    res = rows[0][4]
    console.print(
        f"float accuracy {metrics['float_accuracy']:.4f}, int8 (reference) {metrics['int8_accuracy']:.4f}; "
        f"flash: firmware core {res.get('flash_core_bytes')} B + model {res['flash_model_bytes']} B; "
        f"model RAM (blob + arena) {res['model_ram_bytes']} B"
    )
    if not all(np.array_equal(r[2], ref) for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
