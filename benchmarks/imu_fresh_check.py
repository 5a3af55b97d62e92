"""Every cached leave-one-out model and the in-family model on validation sequences no rule has scored.

    .venv/bin/python benchmarks/imu_fresh_check.py [CACHE] [--second | --third | --fourth]    # ~3 min on one core, models cached

``--second``: validation sequences 20-29 and the generator's validation seeds 1006-1011 instead (``_later_set``);
``--third``: sequences 30-39 and seeds 1012-1017; ``--fourth``: 40-49 and 1018-1023.

For the code it is run with and the models in ``CACHE`` (default ``.cache/imu_attitude``; a branch's
worktree, run with that branch on the path, passes its own): each model trained without a family is scored
on that family's validation sequences 10-19, and the in-family model on every family's 10-19 and on the
independent generator's validation seeds. Sequences 10-19 are fresh: the cores are chosen on 0-4, and held-out
rule terms scored 0-9. Ratios are to the best tuned filter on the same sequences (tuned on 0-9). The rule
that uses it: ``docs/imu_rule_checks.md`` (``rest_drift_fresh``). The test split is never read.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from imu_core_split_check import fresh_in_family
from imu_noisy_checks import foreign_validation
from imu_rule_checks import _named

import neuroedge.imu.train as train
from neuroedge.imu.evaluate import score_model
from neuroedge.imu.families import FAMILIES, generate_split


def _models(cache: Path) -> dict[str, object]:
    """``{"all" or the family left out: model}``: the running code's models, from ``cache`` (trained there
    if missing, which takes an hour; the rule checks cache them first)."""
    return {name: train.load_or_train(_named(name)[0], cache_dir=cache)[0] for name in ("all", *FAMILIES)}


def _later_set(n: int) -> tuple[dict, dict, dict]:
    """Set ``n`` (2 to 4): validation sequences ``10n``-``10n+9`` a family (their best tuned filter's mean error:
    the filters tuned on 0-9) and the generator's validation seeds ``1000+6(n-1)`` on, six a kind: the data of a
    rule written after the rules that read the sets before it."""
    from imu_foreign import KINDS, recording

    fresh = {f: generate_split("val", f, 10 * n + 10, 40.0)[10 * n:] for f in FAMILIES}
    ref = {f: float(np.mean(train.filter_reference(fresh[f]))) for f in FAMILIES}
    return fresh, ref, {k: [recording(1000 + 6 * (n - 1) + i, k) for i in range(6)] for k in KINDS}


def main() -> None:
    t = time.time()
    flags = {"--second": 2, "--third": 3, "--fourth": 4}
    args = [a for a in sys.argv[1:] if a not in flags]
    n = max([flags[a] for a in sys.argv[1:] if a in flags], default=1)
    cache = Path(args[0] if args else ".cache/imu_attitude")
    models = _models(cache)
    fresh, ref, foreign = _later_set(n) if n > 1 else (*fresh_in_family(), foreign_validation())
    span = f"{10 * n}-{10 * n + 9}"
    held = {f: score_model(models[f], fresh[f])["tilt_deg"] / ref[f] for f in FAMILIES}
    inside = {f: score_model(models["all"], fresh[f])["tilt_deg"] / ref[f] for f in FAMILIES}
    print(f"held out, fresh {span}: " + " ".join(f"{f} {r:.4f}" for f, r in held.items())
          + f" | largest {max(held.values()):.4f} median {float(np.median(list(held.values()))):.4f}")
    print(f"in family, fresh {span}: " + " ".join(f"{f} {r:.4f}" for f, r in inside.items())
          + f" | median {float(np.median(list(inside.values()))):.4f}")
    print("independent generator validation (mean tilt, °): " + " ".join(
        f"{k} {score_model(models['all'], s)['tilt_deg']:.4f}" for k, s in foreign.items()))
    print(f"{time.time() - t:.0f} s")


if __name__ == "__main__":
    main()
