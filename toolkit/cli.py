"""The ``neuroedge`` command line.

Exit codes: 0 success, 1 a failure (the whole message on stderr, which may be several lines, but
never a traceback; ``--debug`` before or after the subcommand shows it), 2 a usage error. Nothing heavy is imported before a subcommand needs it, so ``--help``
never imports torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from neuroedge.cli_list import cmd_converters, cmd_targets
from neuroedge.cli_run import UsageError, cmd_bench, cmd_import_onnx, cmd_inspect, cmd_run
from neuroedge.cli_run import kv as _kv

EXIT_FAIL = 1
EXIT_USAGE = 2


def cmd_convert(args: argparse.Namespace) -> int:
    from neuroedge import registry

    conv = registry.get_converter(args.name)
    bundle = conv(args.input, _kv(args.param, "--param"), Path(args.output), args.force)
    print(f"wrote {bundle.path} ({bundle.format})")
    for key, value in bundle.manifest.metrics.items():
        if isinstance(value, (int, float, str)):
            print(f"  {key}: {value}")
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
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's --debug sets the flag; its absence does not reset the global one
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on failure")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add = sub.add_parser
    sub.add_parser = lambda *a, **k: _add(*a, parents=[common], **k)  # type: ignore[method-assign]

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
        s.add_argument("bundle", help="a bundle folder, or an .onnx file (imported on the fly)")
        s.add_argument("--target", "-t", required=True, help="target name (neuroedge targets lists them)")
        s.add_argument("--data", help="input .npy/.npz (default: one seeded random input of the manifest's shape)")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--option", action="append", metavar="KEY=VALUE", help="target option, e.g. threads=1")
        s.set_defaults(fn=fn)
        if name == "run":
            s.add_argument("--save", help="write the outputs to this .npz")
        else:
            s.add_argument("--iterations", "-n", type=int, default=1000, help="at least this many timed calls per round")
            s.add_argument("--warmup", type=int, default=100, help="untimed calls first")
            s.add_argument("--min-duration", type=float, default=1.0, help="and at least this many seconds")
            s.add_argument("--rounds", type=int, help="timed rounds (default: the target's; 5 on a CPU)")
            s.add_argument("--json", help="write the report (with per-iteration samples) here")
            s.add_argument("--plot", help="write a latency histogram PNG here")

    s = sub.add_parser("import-onnx", help="bring an existing .onnx file in as a bundle")
    s.add_argument("file", help="the .onnx file")
    s.add_argument("-o", "--output", required=True, help="output bundle folder")
    s.add_argument("--state", action="append", metavar="INPUT=OUTPUT",
                   help="recurrent state: OUTPUT of one call is fed back as INPUT of the next (zeros first)")
    s.add_argument("--force", action="store_true", help="replace an existing output folder")
    s.set_defaults(fn=cmd_import_onnx)

    s = sub.add_parser("inspect", help="show a bundle's manifest")
    s.add_argument("bundle", help="a bundle folder, or an .onnx file")
    s.add_argument("--json", action="store_true", help="print the raw manifest")
    s.set_defaults(fn=cmd_inspect)

    s = sub.add_parser("targets", help="list targets: available here, or why not; NAME: its options")
    s.add_argument("name", nargs="?", help="a target: list its options with type, default and help")
    s.set_defaults(fn=cmd_targets)
    s = sub.add_parser("converters", help="list converters; NAME: its parameters")
    s.add_argument("name", nargs="?", help="a converter: list its parameters with type, default and help")
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
        if getattr(args, "debug", False) or os.environ.get("NEUROEDGE_DEBUG"):
            raise
        msg = str(exc).strip() or type(exc).__name__
        if isinstance(exc, KeyError):  # str(KeyError) is the repr of the key alone
            msg = f"{type(exc).__name__}: {msg}"
        print(f"neuroedge: error: {msg}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
