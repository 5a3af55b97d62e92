"""The benchmark's trained IMU models and filter tunings, committed so a fresh clone need not train them.

Every file in the training cache (``neuroedge.imu.train.CACHE_DIR``) is named by a content hash of what made
it: the generator's, network's and core's source and the training settings (``TrainConfig.key``), or the
filters' source and their search (``neuroedge.imu.evaluate.filter_key``). So a file of that name in
``SEED_DIR`` is what this code would make, and ``fetch`` copies it into the cache instead of training again
(from nothing that is an hour on two cores; the networks train bit for bit the same here as where they were
committed). A change to any hashed source or setting changes the names, and the cache trains afresh as
before. ``benchmarks/imu_seed_cache.py`` refreshes the folder from the cache after a model ships; ``--retrain``
(``python -m neuroedge.imu.train``) still trains from nothing.

Paths are relative to the repository root, as ``CACHE_DIR`` is: the benchmarks run from there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SEED_DIR = Path("benchmarks/models/imu_attitude")


def fetch(cache_dir: Path, names: tuple[str, ...], seed_dir: Path | None = None) -> bool:
    """Copy ``names`` from the seed folder into ``cache_dir`` where the cache lacks any of them and the seed
    holds them all (a set is used whole or not at all); True if copied. Only ``.json`` and ``.npz`` files:
    both are read without pickle."""
    seed = SEED_DIR if seed_dir is None else seed_dir
    cache_dir = Path(cache_dir)
    if all((cache_dir / n).is_file() for n in names) or not all((seed / n).is_file() for n in names):
        return False
    if any(Path(n).suffix not in (".json", ".npz") for n in names):
        raise ValueError(f"only .json and .npz files are seeded, not {names}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    for n in names:
        copy_atomic(seed / n, cache_dir / n)
    return True


def copy_atomic(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` through a temporary name of this process's own, so a reader never sees half a
    file and two processes copying at once never rename each other's."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.copying")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)
