"""How much the in-family IMU figures move with the training seed alone: the noise under a run-to-run change.

    .venv/bin/python benchmarks/imu_seed_noise.py 0 1 2                        # ~14 min per seed that trains
    .venv/bin/python benchmarks/imu_seed_noise.py --without random_walk 0 1 2  # a leave-one-out model's

For each seed, the in-family model (all five families, ``TrainConfig(seed=...)``: the network's
initialisation and batches; the core chosen by the committed rule on the same validation split), or with
``--without FAMILY`` the model trained without that family, is scored on every family's test split
against the best tuned filter (the cached tunings ``benchmarks/imu.py`` uses). Seed 0 is the benchmark's
own model (cached). Nothing is chosen from these figures: they are the spread a model change must beat to
count. Other seeds train into ``.cache/imu_seed_noise/``, never the shipped model's cache. Writes
``benchmarks/results/imu_seed_noise.json`` (``imu_seed_noise_without_FAMILY.json``).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from common import write_results
from imu import N_TEST, N_VAL, TEST_S, VAL_S  # the benchmark's own splits, so the two cannot drift apart

from neuroedge.imu.evaluate import load_or_tune_filters, score_filters, score_model
from neuroedge.imu.families import FAMILIES, generate_split
from neuroedge.imu.train import CACHE_DIR, TrainConfig, load_or_train

SEED_CACHE = CACHE_DIR.parent / "imu_seed_noise"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    without = None
    if args[:1] == ["--without"]:
        if len(args) < 2 or args[1] not in FAMILIES:
            sys.exit(f"--without: expected one of {', '.join(FAMILIES)}")
        without, args = args[1], args[2:]
    if not args or not all(a.isdigit() for a in args):
        sys.exit("usage: imu_seed_noise.py [--without FAMILY] SEED [SEED ...] (non-negative integers)")
    seeds = [int(a) for a in args]
    families = tuple(f for f in FAMILIES if f != without)
    tests = {f: generate_split("test", f, N_TEST, TEST_S) for f in FAMILIES}
    best = {}
    for fam in FAMILIES:
        filters = score_filters(tests[fam], load_or_tune_filters(fam, N_VAL, VAL_S, CACHE_DIR))
        best[fam] = min(v["tilt_deg"] for v in filters.values())
    runs = {}
    for seed in seeds:
        t = time.time()
        cache = CACHE_DIR if seed == 0 else SEED_CACHE
        model, _, meta = load_or_train(TrainConfig(families=families, seed=seed), cache_dir=cache)
        ratios = {f: score_model(model, tests[f])["tilt_deg"] / best[f] for f in FAMILIES}
        runs[str(seed)] = {"key": meta["key"], "core_val_score": meta["core"]["val_score"],
                           "ratio_to_best_tuned_filter": ratios,
                           "median": float(np.median(list(ratios.values())))}
        print(f"seed {seed}: " + " ".join(f"{f} {r:.3f}" for f, r in ratios.items())
              + f" | median {runs[str(seed)]['median']:.3f} | {time.time() - t:.0f} s", flush=True)
    medians = [r["median"] for r in runs.values()]
    name = "imu_seed_noise" + (f"_without_{without}" if without else "")
    write_results(name, {"trained_without": without, "seeds": runs, "best_tuned_filter": best,
                         "median_range": [min(medians), max(medians)]})


if __name__ == "__main__":
    main()
