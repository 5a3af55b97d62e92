"""`make bench`: run every benchmark script in turn; each writes benchmarks/results/<name>.json + PNGs.

    .venv/bin/python benchmarks/run_all.py [--only foundation,splitquant,...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["foundation", "splitquant", "snn", "mcu", "imu", "gesture_deploy", "sweep"]
# Arguments the README's figures were made with (Lava is ~1.4 s per timestep here, so few samples).
ARGS = {"snn": ["--lava-samples", "4", "--lava-timesteps", "64"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated benchmark names")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else ORDER
    failed = []
    for name in names:
        script = HERE / f"{name}.py"
        if not script.is_file():
            print(f"== {name}: no benchmarks/{name}.py in this checkout, skipped")
            continue
        print(f"== {name}", flush=True)
        t0 = time.time()
        rc = subprocess.call([sys.executable, str(script), *ARGS.get(name, [])], cwd=HERE.parent)
        print(f"== {name}: {'ok' if rc == 0 else f'FAILED ({rc})'} in {time.time() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    # Last: the README's figure tables, rewritten from the JSON just written.
    subprocess.call([sys.executable, str(HERE / "readme_tables.py")], cwd=HERE.parent)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
