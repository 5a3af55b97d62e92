"""``neuroedge run | bench | inspect | import-onnx``: one bundle (or an ``.onnx`` file) at a time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


class UsageError(Exception):
    """Bad arguments that argparse could not see (exit 2)."""


def kv(items: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def load_inputs(runner: Any, data: str | None, seed: int) -> list[np.ndarray]:
    """``--data`` (.npy for one input; .npz by input name, or in order), or one seeded random input."""
    specs = runner.inputs
    if data is None:
        for s in specs:  # a sequence model timed at length 1 would be a figure nobody asked for: say so
            named = [str(d) for d in s.shape[1:] if isinstance(d, str)]
            if named:
                print(f"note: input {s.name!r} has dynamic axes {named}: the random input sets them to 1; "
                      "give --data for real sizes", file=sys.stderr)
        rng = np.random.default_rng(seed)
        return [rng.random(s.concrete_shape(1)).astype("float32" if s.quant else s.dtype) for s in specs]
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"--data {path}: no such file")
    if path.suffix == ".npy":
        if len(specs) != 1:
            raise UsageError(f"--data {path}: the bundle has {len(specs)} inputs "
                             f"({', '.join(s.name for s in specs)}); give an .npz with one array per input name")
        return [np.load(path, allow_pickle=False)]
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            names = [s.name for s in specs]
            if all(n in z for n in names):
                return [z[n] for n in names]
            if len(names) == 1 and "x" in z:  # the calibration convention's .npz (x, and labels y)
                return [z["x"]]
            if len(z.files) != len(names):
                raise UsageError(f"--data {path}: holds {z.files}; the bundle's inputs are {names}")
            return [z[k] for k in z.files]
    raise UsageError(f"--data {path}: expected a .npy or .npz file")


def _abridged(a: Any, n: int = 8) -> str:
    flat = np.asarray(a).ravel()
    vals = ", ".join(f"{v:.5g}" for v in flat[:n])
    return f"[{vals}{', ...' if flat.size > n else ''}]"


def _open(args: argparse.Namespace) -> tuple[Any, Any]:
    from neuroedge import registry
    from neuroedge.onnx_import import bundle_or_onnx

    bundle = bundle_or_onnx(args.bundle)
    return bundle, registry.open_runner(bundle, args.target, kv(args.option, "--option"))


def cmd_run(args: argparse.Namespace) -> int:
    bundle, runner = _open(args)
    try:
        outputs = runner.run(load_inputs(runner, args.data, args.seed))
    finally:
        runner.close()
    for spec, out in zip(runner.outputs, outputs, strict=False):
        print(f"{spec.name}: shape {list(out.shape)} {out.dtype} {_abridged(out)}")
    if args.save:
        import io

        from neuroedge.bundle import atomic_write_bytes

        buf = io.BytesIO()
        np.savez(buf, **{s.name: o for s, o in zip(runner.outputs, outputs, strict=False)})
        atomic_write_bytes(Path(args.save), buf.getvalue())
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from neuroedge.bench import BenchConfig, plot_histogram
    from neuroedge.bundle import atomic_write_json

    bundle, runner = _open(args)
    from neuroedge.registry import get_target

    config = BenchConfig(iterations=args.iterations, warmup=args.warmup, min_duration_s=args.min_duration,
                         rounds=args.rounds).for_target(get_target(args.target).bench_rounds)
    try:
        inputs = load_inputs(runner, args.data, args.seed)
        report = runner.benchmark(inputs, config)
    finally:
        runner.close()
    stats = report.stats()
    data = report.to_json(False)
    batch = int(np.asarray(inputs[0]).shape[0]) if inputs and np.asarray(inputs[0]).ndim else 1
    per_s = data["throughput_per_s"]
    spread = report.p50_spread_pct
    rounds = f", p50 spread {spread:.1f}% over {report.rounds} rounds" if spread is not None else ""
    print(f"{args.target}: p50 {stats['p50'] * 1000:.2f} µs  p99 {stats['p99'] * 1000:.2f} µs  "
          f"mean {stats['mean'] * 1000:.2f} µs  ({report.iterations} calls of batch {batch}: "
          f"{per_s:.0f} batches/s, {per_s * batch:.0f} samples/s{rounds})")
    if report.iterations < args.iterations:
        why = report.settings.get("iteration_cap_reason", "the target caps the number of calls")
        print(f"note: {report.iterations} timed calls, not the {args.iterations} asked for: {why}")
    if args.json:
        out = report.to_json()
        out["bundle"] = str(bundle.path)
        out["batch_size"] = batch
        out["samples_per_s"] = per_s * batch
        atomic_write_json(Path(args.json), out)
        print(f"wrote {args.json}")
    if args.plot:
        plot_histogram(report, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from neuroedge.onnx_import import bundle_or_onnx

    bundle = bundle_or_onnx(args.bundle)
    m = bundle.manifest
    if args.json:
        print(json.dumps(m.to_json(), indent=2))
        return 0
    print(f"bundle   {bundle.path}")
    print(f"format   {m.format} (format_version {m.format_version}), main file {m.main}")
    for kind, specs in (("input", m.inputs), ("output", m.outputs)):
        for s in specs:
            q = f" quant scale={s.quant.scale:.6g} zero_point={s.quant.zero_point} bits={s.quant.bits}" if s.quant else ""
            print(f"{kind:8s} {s.name} {list(s.shape)} {s.dtype}{q}")
    for pair in m.state:
        print(f"state    {pair.input} <- {pair.output} (carried from call to call)")
    for i, step in enumerate(m.chain):
        params = ", ".join(f"{k}={v}" for k, v in step.params.items() if v not in (None, "", []))
        print(f"step {i}   {step.converter} {step.version} ({params}) from {step.input_hash[:19]}")
    for key, value in m.metrics.items():
        print(f"metric   {key} = {value}")
    for name, digest in m.files.items():
        size = (bundle.path / name).stat().st_size
        print(f"file     {name} {size} bytes {digest[:19]}")
    return 0


def cmd_import_onnx(args: argparse.Namespace) -> int:
    from neuroedge.onnx_import import import_onnx

    bundle = import_onnx(args.file, args.output, state=args.state or [], force=args.force)
    m = bundle.manifest
    print(f"wrote {bundle.path} (onnx): inputs {', '.join(f'{s.name}{list(s.shape)}' for s in m.inputs)}; "
          f"outputs {', '.join(f'{s.name}{list(s.shape)}' for s in m.outputs)}"
          + (f"; state {', '.join(f'{p.input}<-{p.output}' for p in m.state)}" if m.state else ""))
    return 0
