"""The demo's last stage: a small SplitQuant sweep on the digits MLP, with its Pareto report.

    .venv/bin/python examples/sweep/demo.py [-o out/demo-sweep]

Rerunning it resumes: the points already in results.jsonl are skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from neuroedge.pipeline import load_config
from neuroedge.sweep import parse_grid, sweep

REPO = Path(__file__).resolve().parents[2]

GRID = ["splitquant.bits=2,4,8", "splitquant.split=true,false"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", type=Path, default=REPO / "out" / "demo-sweep")
    args = ap.parse_args()
    args.output = args.output.resolve()
    os.chdir(REPO)  # the config names its model as examples.digits..., resolved from the repository root
    config = load_config(REPO / "examples" / "sweep" / "digits_splitquant.toml")
    res = sweep(config, parse_grid(GRID), args.output, progress=None)
    print(f"{len(res['points'])} points ({len(res['ran'])} ran, {len(res['skipped'])} already done)")
    print((args.output / "report.md").read_text().split("![Pareto")[0])
    print(f"Pareto plot: {args.output / 'pareto.png'}")
    failed = [r for r in res["records"].values() if r.get("status") != "ok"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
