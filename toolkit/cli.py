"""The ``neuroedge`` command line.

Exit codes: 0 success, 1 a failure (one line on stderr, ``--debug`` for the traceback),
2 a usage error. Nothing heavy is imported before a subcommand needs it, so ``--help``
never imports torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_FAIL = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments that argparse could not see (exit 2)."""


def _kv(items: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def _load_inputs(runner: Any, data: str | None, seed: int) -> list[Any]:
    import numpy as np

    if data is None:
        rng = np.random.default_rng(seed)
        return [rng.random(s.concrete_shape(1)).astype(s.dtype) for s in runner.inputs]
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    if path.suffix == ".npy":
        return [np.load(path, allow_pickle=False)]
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            names = [s.name for s in runner.inputs]
            if all(n in z for n in names):
                return [z[n] for n in names]
            return [z[k] for k in z.files][: len(names)]
    raise UsageError(f"--data {path}: expected a .npy or .npz file")


def _abridged(a: Any, n: int = 8) -> str:
    import numpy as np

    flat = np.asarray(a).ravel()
    vals = ", ".join(f"{v:.5g}" for v in flat[:n])
    return f"[{vals}{', ...' if flat.size > n else ''}]"


# ---- subcommands -----------------------------------------------------------------------------

def cmd_targets(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from neuroedge import registry

    table = Table(title="neuroedge targets")
    table.add_column("target")
    table.add_column("available")
    table.add_column("formats / why not")
    for name in registry.target_names():
        status = registry.target_status(name)
        if status is True:
            formats = ", ".join(registry.get_target(name).formats)
            table.add_row(name, "[green]yes[/]", formats)
        else:
            from rich.markup import escape

            table.add_row(name, "[red]no[/]", escape(str(status)))
    Console().print(table)
    return 0


def cmd_converters(args: argparse.Namespace) -> int:
    from neuroedge import registry

    for name in registry.converter_names():
        try:
            conv = registry.get_converter(name)
            print(f"{name:12s} {conv.summary}")
        except registry.RegistryError as exc:
            print(f"{name:12s} unavailable: {exc}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from neuroedge import registry
    from neuroedge.bundle import load

    conv = registry.get_converter(args.name)
    params = registry.parse_params(conv.params, _kv(args.param, "--param"), where=f"{args.name} params")
    source: Any = args.input
    if conv.accepts == "bundle":
        source = load(args.input)
    bundle = conv.convert(source, params, Path(args.output), args.force)
    print(f"wrote {bundle.path} ({bundle.format})")
    for key, value in bundle.manifest.metrics.items():
        if isinstance(value, (int, float, str)):
            print(f"  {key}: {value}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from neuroedge import registry
    from neuroedge.bundle import load

    bundle = load(args.bundle)
    runner = registry.open_runner(bundle, args.target, _kv(args.option, "--option"))
    try:
        inputs = _load_inputs(runner, args.data, args.seed)
        outputs = runner.run(inputs)
    finally:
        runner.close()
    for spec, out in zip(runner.outputs, outputs, strict=False):
        print(f"{spec.name}: shape {list(out.shape)} {out.dtype} {_abridged(out)}")
    if args.save:
        import numpy as np

        np.savez(args.save, **{s.name: o for s, o in zip(runner.outputs, outputs, strict=False)})
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from neuroedge import registry
    from neuroedge.bench import BenchConfig, plot_histogram
    from neuroedge.bundle import atomic_write_json, load

    bundle = load(args.bundle)
    runner = registry.open_runner(bundle, args.target, _kv(args.option, "--option"))
    config = BenchConfig(iterations=args.iterations, warmup=args.warmup, min_duration_s=args.min_duration)
    try:
        report = runner.benchmark(_load_inputs(runner, args.data, args.seed), config)
    finally:
        runner.close()
    stats = report.stats()
    print(
        f"{args.target}: p50 {stats['p50'] * 1000:.2f} µs  p99 {stats['p99'] * 1000:.2f} µs  "
        f"mean {stats['mean'] * 1000:.2f} µs  ({report.iterations} iterations, "
        f"{report.to_json(False)['throughput_per_s']:.0f}/s)"
    )
    if args.json:
        data = report.to_json()
        data["bundle"] = str(bundle.path)
        atomic_write_json(Path(args.json), data)
        print(f"wrote {args.json}")
    if args.plot:
        plot_histogram(report, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from neuroedge.bundle import load

    bundle = load(args.bundle)
    m = bundle.manifest
    if args.json:
        print(json.dumps(m.to_json(), indent=2))
        return 0
    print(f"bundle   {bundle.path}")
    print(f"format   {m.format} (format_version {m.format_version}), main file {m.main}")
    for kind, specs in (("input", m.inputs), ("output", m.outputs)):
        for s in specs:
            q = f" quant {s.quant}" if s.quant else ""
            print(f"{kind:8s} {s.name} {list(s.shape)} {s.dtype}{q}")
    for i, step in enumerate(m.chain):
        params = ", ".join(f"{k}={v}" for k, v in step.params.items() if v not in (None, "", []))
        print(f"step {i}   {step.converter} {step.version} ({params}) from {step.input_hash[:19]}")
    for key, value in m.metrics.items():
        print(f"metric   {key} = {value}")
    for name, digest in m.files.items():
        size = (bundle.path / name).stat().st_size
        print(f"file     {name} {size} bytes {digest[:19]}")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from neuroedge.pipeline import compile_pipeline, load_config

    config = load_config(Path(args.config), overrides=_kv(args.set, "--set"))
    result = compile_pipeline(config, Path(args.output), force=args.force)
    print(f"wrote {result['bundle']}")
    for key, value in result.get("summary", {}).items():
        print(f"  {key}: {value}")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from neuroedge.firmware_bridge.devices import format_table, list_devices

    rows = list_devices(probe_ports=not args.no_probe, extra=args.url or None)
    print(format_table(rows) if rows else "no serial ports found (give a URL: neuroedge devices --url socket://host:port)")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from neuroedge.sweep import main as sweep_main

    return sweep_main(args)


# ---- parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="neuroedge",
        description="Take PyTorch models to edge and neuromorphic hardware: convert, run, benchmark.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("compile", help="run a pipeline described in TOML")
    s.add_argument("config", help="pipeline TOML (model, data, converter steps, target)")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (e.g. target=torch)")
    s.add_argument("--force", action="store_true", help="replace an existing output folder")
    s.set_defaults(fn=cmd_compile)

    s = sub.add_parser("convert", help="apply one converter")
    s.add_argument("name", help="converter name (neuroedge converters lists them)")
    s.add_argument("input", help="a bundle folder, or a model: package.module:factory or a file")
    s.add_argument("-o", "--output", required=True, help="output bundle folder")
    s.add_argument("--param", action="append", metavar="KEY=VALUE", help="converter parameter")
    s.add_argument("--force", action="store_true", help="replace an existing output folder")
    s.set_defaults(fn=cmd_convert)

    for name, helptext, fn in (("run", "run a bundle once on a target", cmd_run),
                               ("bench", "benchmark a bundle's latency on a target", cmd_bench)):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("bundle")
        s.add_argument("--target", "-t", required=True, help="target name (neuroedge targets lists them)")
        s.add_argument("--data", help="input .npy/.npz (default: one seeded random input of the manifest's shape)")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--option", action="append", metavar="KEY=VALUE", help="target option, e.g. threads=1")
        s.set_defaults(fn=fn)
        if name == "run":
            s.add_argument("--save", help="write the outputs to this .npz")
        else:
            s.add_argument("--iterations", "-n", type=int, default=1000, help="at least this many timed calls")
            s.add_argument("--warmup", type=int, default=100, help="untimed calls first")
            s.add_argument("--min-duration", type=float, default=1.0, help="and at least this many seconds")
            s.add_argument("--json", help="write the report (with per-iteration samples) here")
            s.add_argument("--plot", help="write a latency histogram PNG here")

    s = sub.add_parser("inspect", help="show a bundle's manifest")
    s.add_argument("bundle")
    s.add_argument("--json", action="store_true", help="print the raw manifest")
    s.set_defaults(fn=cmd_inspect)

    s = sub.add_parser("targets", help="list targets: available here, or why not")
    s.set_defaults(fn=cmd_targets)
    s = sub.add_parser("converters", help="list converters")
    s.set_defaults(fn=cmd_converters)

    s = sub.add_parser("sweep", help="run a grid of pipeline variants; results.jsonl, report.md, Pareto PNG")
    s.add_argument("config", help="pipeline TOML")
    s.add_argument("--grid", action="append", metavar="KEY=V1,V2", help="e.g. splitquant.bits=2,4,8 or target=a,b")
    s.add_argument("-o", "--output", required=True, help="sweep folder (rerun to resume)")
    s.add_argument("--backend", choices=("local", "ray"), default="local")
    s.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    s.add_argument("--workers", type=int, help="local worker processes (default: the cores)")
    s.set_defaults(fn=cmd_sweep)

    s = sub.add_parser("devices", help="list serial ports and which answer the firmware's HELLO")
    s.add_argument("--no-probe", action="store_true", help="list only; do not open the ports")
    s.add_argument("--url", action="append", help="also probe this device URL (a pty path, socket://, loop://)")
    s.set_defaults(fn=cmd_devices)
    from neuroedge.imu.cli import add_parser as add_imu_parser  # stdlib only at import: no torch for --help
    add_imu_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"neuroedge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("neuroedge: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug or os.environ.get("NEUROEDGE_DEBUG"):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"neuroedge: error: {msg}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
