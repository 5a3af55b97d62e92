"""``imu_rule_checks.py seeds``: the network as an ensemble of training seeds, on validation only.

For ``all`` (the in-family settings) or a FAMILY (trained without it), the networks of seeds 0 (the
model's cache) and the others (``imu_seed_noise``'s cache, trained there if missing: networks only, no
core of their own); their ``log σ_a`` averaged and one core chosen for that by the committed rule
(``neuroedge.imu.train.tune_core``). Scored as the other checks score: on each scored family's validation
split, the ratio of the mean tilt error to its best tuned filter's; for ``all``, also the independent
generator's validation seeds (1000-1005). The rule and the result: ``docs/imu_rule_checks.md``.
The test split is never read.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from imu_rule_checks import _held_and_ref, _named
from imu_seed_noise import SEED_CACHE

import neuroedge.imu.train as train
from neuroedge.imu.core import core_scan
from neuroedge.imu.evaluate import score_run
from neuroedge.imu.families import ImuSequence
from neuroedge.imu.fast import AttitudeModel
from neuroedge.imu.learn import load_or_train_network


def _networks(config: train.TrainConfig, seeds: list[int]) -> list[AttitudeModel]:
    """Each seed's network alone (no core), trained if missing."""
    nets = []
    for seed in seeds:
        cache = train.CACHE_DIR if seed == 0 else SEED_CACHE
        arrays, _ = load_or_train_network(replace(config, seed=seed).net(), cache)
        nets.append(AttitudeModel.from_arrays(arrays, np.zeros(0)))
    return nets


def _sigma(nets: list[AttitudeModel], seq: ImuSequence) -> np.ndarray:
    """The ensemble's ``σ_a``: the networks' ``log σ_a`` averaged."""
    acc, gyr = np.ascontiguousarray(seq.acc), np.ascontiguousarray(seq.gyr)
    return np.exp(np.mean([n.log_sigma_a(acc, gyr, seq.rate_hz) for n in nets], axis=0))


def _error(nets: list[AttitudeModel], cp: np.ndarray, seqs: list[ImuSequence]) -> float:
    return score_run(lambda s: core_scan(np.ascontiguousarray(s.acc), np.ascontiguousarray(s.gyr),
                                         _sigma(nets, s), s.rate_hz, cp), seqs)["tilt_deg"]


def seeds(names: list[str], seed_list: list[int]) -> None:
    for name in names:
        t = time.time()
        config, scored = _named(name)
        nets = _networks(config, seed_list)
        val = train.validation(config)
        core = train.tune_core(config, val, [_sigma(nets, s) for s in val])
        cp = train.params_of(core)
        held, ref = _held_and_ref(scored)
        ratios = [_error(nets, cp, held[f]) / ref[f] for f in held]
        line = (f"{name}: ensemble of seeds {seed_list}: own {core['val_score']:.4f} | ratios "
                + " ".join(f"{r:.3f}" for r in ratios) + f" median {float(np.median(ratios)):.3f}")
        if name == "all":
            from imu_core_split_check import fresh_in_family
            from imu_noisy_checks import foreign_validation

            line += " | independent generator validation:" + "".join(
                f" {k} {_error(nets, cp, seqs):.3f}" for k, seqs in foreign_validation().items())
            fresh, ref = fresh_in_family()  # sequences 10-19: no core was chosen on them (docs: core_split)
            ratios = [_error(nets, cp, fresh[f]) / ref[f] for f in fresh]
            line += (" | in family on fresh validation 10-19: " + " ".join(f"{r:.3f}" for r in ratios)
                     + f" median {float(np.median(ratios)):.3f}")
        print(line + f" | {time.time() - t:.0f} s", flush=True)


def seeds_core0(names: list[str], seed_list: list[int]) -> None:
    """The seeds' mean ``σ_a`` fed to the core chosen for seed 0's network (the model's cached core)."""
    for name in names:
        t = time.time()
        config, scored = _named(name)
        nets = _networks(config, seed_list)
        model, _, _ = train.load_or_train(config)
        held, ref = _held_and_ref(scored)
        ratios = [_error(nets, model.core, held[f]) / ref[f] for f in held]
        line = (f"{name}: seeds {seed_list} fed to seed 0's core | ratios " + " ".join(f"{r:.3f}" for r in ratios)
                + f" median {float(np.median(ratios)):.3f}")
        if name == "all":
            from imu_noisy_checks import foreign_validation

            line += " | independent generator validation, seed 0 / seeds:" + "".join(
                f" {k} {_error(nets[:1], model.core, seqs):.4f}/{_error(nets, model.core, seqs):.4f}"
                for k, seqs in foreign_validation().items())
        print(line + f" | {time.time() - t:.0f} s", flush=True)
