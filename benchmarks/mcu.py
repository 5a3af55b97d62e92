"""Benchmark of the microcontroller path: bit-exactness, size, latency, and faults survived.

    .venv/bin/python benchmarks/mcu.py [--samples 540] [--fault-samples 400]

The foundation's digits MLP (64-128-10) and digits CNN, INT8 by the ``mcu`` converter (calibrated
PTQ), run through the firmware built for the host (pty) and on QEMU's emulated Cortex-M3
(lm3s6965evb), on the whole digits test split; every output is compared with the Python integer
reference. Then a fault-injecting proxy (bit flips, dropped bytes and frames, duplicates, garbage,
device resets mid-LOAD) sits in the link, and the wrong outputs are counted (they must be 0).
QEMU timings are emulator timings, not a chip's: QEMU is not cycle-accurate.

Writes benchmarks/results/mcu.json and benchmarks/results/mcu.png.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO, example

from neuroedge.bench import BenchConfig
from neuroedge.converters.mcu import CONVERTER, McuParams
from neuroedge.firmware_bridge import launch
from neuroedge.firmware_bridge import reference as R
from neuroedge.firmware_bridge.blob import c_array, unpack
from neuroedge.firmware_bridge.faults import run_fault_campaign
from neuroedge.registry import open_runner
from neuroedge.results import RESULTS_DIR, write_results

MODELS = {"digits_mlp": (1, 64), "digits_cnn": (1, 1, 8, 8)}


def convert(name: str, out: Path) -> Any:
    from neuroedge.data.digits import save_split

    weights = example("examples.digits.train:ensure_trained")(name, cache=REPO / ".cache/digits")
    cal, check = save_split(REPO / ".cache/digits", images=len(MODELS[name]) == 4)
    params = McuParams(weights=str(weights), calibration=str(cal), check=str(check))
    return CONVERTER.convert(f"examples.digits.models:{name}", params, out / name, True)


def eval_inputs(bundle: Any, n: int) -> np.ndarray:
    from neuroedge.data.digits import as_images, load_digits_split

    _, _, x, _ = load_digits_split()
    x = x[:n]
    if len(bundle.manifest.inputs[0].shape) == 4:
        x = as_images(x)
    q = bundle.manifest.inputs[0].quant
    return R.quantize(x, q.scale, q.zero_point)


def on_device(bundle: Any, device: str, xq: np.ndarray, iterations: int) -> dict[str, Any]:
    model = unpack(bundle.main_file.read_bytes())
    xr = xq.transpose(0, 2, 3, 1) if xq.ndim == 4 else xq
    ref = R.run(model, np.ascontiguousarray(xr).reshape(len(xq), -1))
    t0 = time.perf_counter()
    runner = open_runner(bundle, "mcu", {"device": device})
    try:
        start_s = time.perf_counter() - t0
        (out,) = runner.run([xq])
        report = runner.benchmark([xq[:1]], BenchConfig(iterations=iterations, warmup=10, min_duration_s=0.0))
        return {
            "bit_exact": bool(np.array_equal(out, ref)),
            "mismatched_outputs": int((out != ref).any(axis=1).sum()),
            "samples": len(xq),
            "roundtrip_ms": report.settings["roundtrip_ms"],
            "device_ms": report.stats(),
            "timing": report.settings["timing"],
            "start_and_load_s": round(start_s, 3),
            "link": report.settings["link"],
        }
    finally:
        runner.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=540, help="test samples per model and device (540 = all)")
    ap.add_argument("--fault-samples", type=int, default=400)
    ap.add_argument("--iterations", type=int, default=200)
    args = ap.parse_args()
    from rich.console import Console

    console = Console()
    qemu_ok = launch.qemu_available()
    devices = ["host://"] + (["qemu://lm3s6965evb"] if qemu_ok is True else [])
    if qemu_ok is not True:
        console.print(f"[yellow]QEMU path skipped: {qemu_ok}")
    results: dict[str, Any] = {"models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        bundles = {}
        for name in MODELS:
            with console.status(f"converting {name} to INT8 firmware blob"):
                bundles[name] = convert(name, Path(tmp))
            m = bundles[name].manifest.metrics
            results["models"][name] = {"metrics": m, "devices": {}}
            console.print(
                f"{name}: blob {m['blob_bytes']} B, float acc {m['float_accuracy']:.4f}, int8 acc "
                f"{m['int8_accuracy']:.4f}, top-1 agreement {m['int8_float_top1_agreement']:.4f}"
            )
        for name, bundle in bundles.items():
            xq = eval_inputs(bundle, args.samples)
            for dev in devices:
                with console.status(f"{name} on {dev}: {len(xq)} samples"):
                    r = on_device(bundle, dev, xq, args.iterations)
                results["models"][name]["devices"][dev] = r
                console.print(
                    f"{name} on {dev}: bit-exact {r['bit_exact']} ({r['samples']} samples), round trip "
                    f"p50 {r['roundtrip_ms']['p50']:.3f} ms, device {r['device_ms']['p50']:.4f} ms "
                    f"[{r['timing']}]"
                )

        # faults: the MLP on the host build (fast, many faults) and on QEMU
        mlp = unpack(bundles["digits_mlp"].main_file.read_bytes())
        xq = eval_inputs(bundles["digits_mlp"], args.fault_samples)
        faults = {}
        for kind, timeout, n in (
            ("host", 0.15, args.fault_samples),
            ("qemu", 0.5, min(120, args.fault_samples)),
        ):
            if kind == "qemu" and qemu_ok is not True:
                continue
            with console.status(f"fault injection on the {kind} device"), launch.start(kind) as proc:
                faults[kind] = run_fault_campaign(proc, mlp, xq[:n], timeout=timeout, seed=11)
            f = faults[kind]
            console.print(
                f"faults on {kind}: {f['faults']['injected']} injected, {f['correct']} correct, "
                f"{f['failed_loudly']} failed loudly, [bold]{f['wrong']} wrong[/]; link {f['link']}"
            )
        results["faults"] = faults

        size = launch.elf_size(launch.build("qemu")) if qemu_ok is True else None
        linked = None
        if qemu_ok is True:
            src = Path(tmp) / "model_blob.c"
            src.write_text(c_array(bundles["digits_mlp"].main_file.read_bytes()))
            linked = launch.elf_size(launch.build("qemu", model_c=src, build_dir=Path(tmp) / "linked"))
    mlp_dev = results["models"]["digits_mlp"]["devices"]
    all_dev = [d for m in results["models"].values() for d in m["devices"].values()]
    summary = {
        "bit_exact_host": all(m["devices"]["host://"]["bit_exact"] for m in results["models"].values()),
        "bit_exact_qemu": (
            all(m["devices"]["qemu://lm3s6965evb"]["bit_exact"] for m in results["models"].values())
            if qemu_ok is True
            else None
        ),
        "samples": args.samples,
        "samples_checked": sum(d["samples"] for d in all_dev),
        "wrong_outputs_under_faults": sum(f["wrong"] for f in faults.values()),
        "faults_injected": sum(f["faults"]["injected"] for f in faults.values()),
        "flash_core_bytes": size["flash_bytes"] if size else None,
        "flash_model_bytes": results["models"]["digits_mlp"]["metrics"]["blob_bytes"],
        "flash_linked_mlp_bytes": linked["flash_bytes"] if linked else None,
        "ram_bytes": size["ram_bytes"] if size else None,
        "ram_note": "static RAM of the Cortex-M3 image: 44 KiB LOAD buffer + 6 KiB arena + frame buffers "
            "+ 2 KiB "
        "stack; the MLP itself needs blob + arena bytes (model_ram_bytes)",
        "model_ram_bytes_mlp": results["models"]["digits_mlp"]["metrics"]["blob_bytes"]
        + results["models"]["digits_mlp"]["metrics"]["arena_bytes"],
        "roundtrip_ms_p50_host": mlp_dev["host://"]["roundtrip_ms"]["p50"],
        "roundtrip_ms_p50_qemu": mlp_dev["qemu://lm3s6965evb"]["roundtrip_ms"]["p50"]
        if qemu_ok is True
        else None,
        "qemu_timing_note": "QEMU timings are emulator timings (not cycle-accurate), never a chip's",
        "top1_agreement_int8_vs_float": {
            k: v["metrics"]["int8_float_top1_agreement"] for k, v in results["models"].items()
        },
        "firmware_size": size,
    }
    path = write_results("mcu", {**summary, **results})
    plot(results, faults, RESULTS_DIR / "mcu.png")
    console.print(f"wrote {path} and {RESULTS_DIR / 'mcu.png'}")


def plot(results: dict[str, Any], faults: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    labels, rt, dev = [], [], []
    for name, m in results["models"].items():
        for d, r in m["devices"].items():
            labels.append(
                f"{name.replace('digits_', '')}\n{'QEMU (emulated)' if 'qemu' in d else 'host build'}"
            )
            rt.append(r["roundtrip_ms"]["p50"])
            dev.append(r["device_ms"]["p50"])
    x = np.arange(len(labels))
    a.bar(x - 0.2, rt, 0.4, label="round trip over the pty (host clock)")
    a.bar(x + 0.2, dev, 0.4, label="kernels (device clock)")
    a.set_xticks(x, labels)
    a.set_yscale("log")
    a.set_ylabel("ms per inference, p50 (log)")
    a.set_title("Latency (QEMU bars are emulator timings)")
    a.legend(fontsize=8)
    kinds = ["bit_flip", "drop_byte", "drop_frame", "duplicate", "garbage", "reset_mid_load"]
    bottom = np.zeros(len(faults))
    for k in kinds:
        vals = np.array([f["faults"][k] for f in faults.values()])
        b.bar(list(faults), vals, bottom=bottom, label=k)
        bottom += vals
    for i, f in enumerate(faults.values()):
        b.text(
            i,
            bottom[i],
            f"wrong outputs: {f['wrong']}\nloud failures: {f['failed_loudly']}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    b.set_ylabel("faults injected")
    b.set_title("Fault injection: every output checked against the reference")
    b.legend(fontsize=7, loc="upper center", ncol=3)
    b.set_ylim(0, max(bottom.max() * 1.6, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
