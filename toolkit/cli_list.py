"""``neuroedge targets [NAME]`` and ``neuroedge converters [NAME]``: what is there, and each option."""

from __future__ import annotations

import argparse


def _print_fields(title: str, params_type: type) -> None:
    from neuroedge.params import describe

    rows = describe(params_type)
    print(title if rows else f"{title} none")
    width = max((len(r["name"]) for r in rows), default=0)
    for r in rows:
        print(f"  {r['name']:<{width}}  {r['type']}, default {r['default']}" + (f": {r['help']}" if r["help"] else ""))


def cmd_targets(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from neuroedge import registry

    if args.name:
        target = registry.get_target(args.name)
        status = registry.target_status(args.name)
        print(f"{target.name}: {target.summary}")
        print(f"runs: {', '.join(target.formats)}; available here: {'yes' if status is True else status}")
        print(f"a benchmark holds: {target.bench_resources}; rounds: {target.bench_rounds}")
        _print_fields("options (--option KEY=VALUE, [target.options] in TOML):", target.options)
        return 0
    table = Table(title="neuroedge targets")
    table.add_column("target")
    table.add_column("available")
    table.add_column("formats / why not")
    for name in registry.target_names():
        status = registry.target_status(name)
        if status is True:
            table.add_row(name, "[green]yes[/]", ", ".join(registry.get_target(name).formats))
        else:
            table.add_row(name, "[red]no[/]", escape(str(status)))
    Console().print(table)
    print("neuroedge targets NAME lists a target's options")
    return 0


def cmd_converters(args: argparse.Namespace) -> int:
    from neuroedge import registry

    if args.name:
        conv = registry.get_converter(args.name)
        print(f"{conv.name}: {conv.summary}")
        print(f"reads: {', '.join(conv.reads)}; writes: {', '.join(conv.writes)}")
        _print_fields("parameters (--param KEY=VALUE, params in a TOML step):", conv.params)
        return 0
    for name in registry.converter_names():
        try:
            conv = registry.get_converter(name)
            print(f"{name:12s} {', '.join(conv.reads)} -> {', '.join(conv.writes)}: {conv.summary}")
        except registry.RegistryError as exc:
            print(f"{name:12s} unavailable: {exc}")
    print("formats: " + ", ".join(registry.format_names()))
    print("neuroedge converters NAME lists a converter's parameters")
    return 0
