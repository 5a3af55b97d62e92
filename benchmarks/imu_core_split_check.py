"""``imu_rule_checks.py core_split``: the core chosen on 10 validation sequences per family instead of 5.

For ``all`` (in family) or a FAMILY (trained without it): the shipped model (cached) and the same networks
with the core chosen again on ``core_n_val = 10`` (``.cache/imu_rule_checks/core_n_val10``; the networks are
copied there first, so nothing retrains). A held-out FAMILY is scored on its validation split 0-9 (neither
choice sees it); ``all`` on each family's fresh validation sequences 10-19 (neither core was chosen on them),
as the ratio of the model's mean tilt error to the best tuned filter's (``train.filter_reference``: the
filters tuned on 0-9) on the same sequences, and on the independent generator's validation seeds. The rule
and result: ``docs/imu_rule_checks.md``. The test split is never read.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace

import numpy as np
from imu_rule_checks import CHECK_CACHE, N_VAL, VAL_S, _held_and_ref, _named, _ratios

import neuroedge.imu.train as train
from neuroedge.imu.evaluate import score_model
from neuroedge.imu.families import FAMILIES, generate_split

CACHE = CHECK_CACHE / "core_n_val10"


def fresh_in_family() -> tuple[dict, dict]:
    """Each family's validation sequences 10-19 (no core is chosen on them) and its best tuned filter's mean
    error on them (the filters tuned on 0-9)."""
    fresh = {f: generate_split("val", f, 2 * N_VAL, VAL_S)[N_VAL:] for f in FAMILIES}
    return fresh, {f: float(np.mean(train.filter_reference(fresh[f]))) for f in FAMILIES}


def core_split(names: list[str]) -> None:
    for name in names:
        t = time.time()
        config, scored = _named(name)
        shipped, _, meta = train.load_or_train(config)
        CACHE.mkdir(parents=True, exist_ok=True)
        for suffix in ("npz", "json"):  # the network under its own key: the check reuses it
            src = train.CACHE_DIR / f"net-{meta['net_key']}.{suffix}"
            if not (CACHE / src.name).is_file():
                shutil.copy2(src, CACHE / src.name)
        wide, _, wide_meta = train.load_or_train(replace(config, core_n_val=10), cache_dir=CACHE)
        assert wide_meta["net_key"] == meta["net_key"]
        if name == "all":
            fresh, ref = fresh_in_family()
        else:
            fresh, ref = _held_and_ref(scored)
        line = f"{name}:"
        for label, model in (("5", shipped), ("10", wide)):
            line += _ratios(f"core_n_val {label}:", model, fresh, ref)
        line += f" members 5: {meta['core']['hypotheses']} 10: {wide_meta['core']['hypotheses']} |"
        if name == "all":
            from imu_noisy_checks import foreign_validation

            line += " independent generator validation, 5 / 10:" + "".join(
                f" {k} {score_model(shipped, s)['tilt_deg']:.4f}/{score_model(wide, s)['tilt_deg']:.4f}"
                for k, s in foreign_validation().items())
        print(line + f" {time.time() - t:.0f} s", flush=True)
