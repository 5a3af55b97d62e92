"""Refresh the committed IMU training cache (``neuroedge.imu.cache_seed.SEED_DIR``) from the local one.

    .venv/bin/python benchmarks/imu_seed_cache.py [--check]       # seconds; run from the repository root

For the running code, the names of everything ``benchmarks/imu.py`` loads: the in-family model and the five
trained without a family (network, model, core-only model, meta) and the five families' filter tunings.
Each is copied from ``.cache/imu_attitude`` into the seed folder, and the seed's files of older keys are
deleted, so the folder holds exactly what this commit's code would train. A name missing from the cache is
reported and the run fails (train it first: ``benchmarks/imu.py`` does). ``--check`` copies nothing and
only reports whether the seed is complete for this code.
"""

from __future__ import annotations

import sys

from imu import N_VAL, VAL_S
from imu_rule_checks import _named

from neuroedge.imu.cache_seed import SEED_DIR, copy_atomic
from neuroedge.imu.evaluate import filter_key
from neuroedge.imu.families import FAMILIES
from neuroedge.imu.train import CACHE_DIR


def current_names() -> list[str]:
    names = []
    for name in ("all", *FAMILIES):
        config = _named(name)[0]
        key, net = config.key(), config.net().key()
        names += [f"attitude-{key}.npz", f"attitude-{key}-core-only.npz", f"attitude-{key}.json",
                  f"net-{net}.npz", f"net-{net}.json"]
    names += [f"filters-{f}-{filter_key(f, N_VAL, VAL_S)}.json" for f in FAMILIES]
    return sorted(set(names))


def main(argv: list[str]) -> int:
    names = current_names()
    if "--check" in argv:
        missing = [n for n in names if not (SEED_DIR / n).is_file()]
        print(f"{SEED_DIR}: {len(names) - len(missing)} of {len(names)} files for this code"
              + (f"; missing {', '.join(missing)}" if missing else ""))
        return 1 if missing else 0
    missing = [n for n in names if not (CACHE_DIR / n).is_file()]
    if missing:
        print(f"{CACHE_DIR} lacks {', '.join(missing)}: run benchmarks/imu.py first", file=sys.stderr)
        return 1
    SEED_DIR.mkdir(parents=True, exist_ok=True)
    for n in names:
        copy_atomic(CACHE_DIR / n, SEED_DIR / n)
    stale = [p for p in SEED_DIR.iterdir() if p.name not in names]
    for p in stale:
        p.unlink()
    size = sum((SEED_DIR / n).stat().st_size for n in names)
    print(f"{SEED_DIR}: {len(names)} files, {size / 1e6:.1f} MB; {len(stale)} of older keys deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
