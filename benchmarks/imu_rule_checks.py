"""IMU training rules checked on validation only: the figures ``train.py``'s doc and the README quote.

    .venv/bin/python benchmarks/imu_rule_checks.py edge FAMILY [FAMILY ...]   # ~2-4 min per family
    .venv/bin/python benchmarks/imu_rule_checks.py target VARIANT             # ~12 min on one core
    .venv/bin/python benchmarks/imu_rule_checks.py ensemble all|FAMILY SEED... # ~5 min once the seeds are trained
    .venv/bin/python benchmarks/imu_rule_checks.py criterion FAMILY [FAMILY ...] # ~3 min per family
    .venv/bin/python benchmarks/imu_rule_checks.py stiff_z FAMILY [FAMILY ...]   # ~3 min per family
    .venv/bin/python benchmarks/imu_rule_checks.py steps N all|FAMILY [...]      # ~15 min per 2000 steps, one core
    .venv/bin/python benchmarks/imu_rule_checks.py hidden N all|FAMILY [...]     # ~15 min each at 64, one core
    .venv/bin/python benchmarks/imu_rule_checks.py seed N all|FAMILY [...]       # a rule term's seed noise
    .venv/bin/python benchmarks/imu_rule_checks.py coverage all|FAMILY [...]     # ~1 min each, trained
    .venv/bin/python benchmarks/imu_rule_checks.py steady [MODEL.npz]            # ~3 min on one core
    .venv/bin/python benchmarks/imu_rule_checks.py vel_cap all|FAMILY [...]      # ~3-5 min each on one core
    .venv/bin/python benchmarks/imu_rule_checks.py vel_cap_grid                  # ~10 min on one core
    .venv/bin/python benchmarks/imu_rule_checks.py vel_cap_floor                 # ~5 min on one core
    .venv/bin/python benchmarks/imu_rule_checks.py starts all|FAMILY [...]       # ~10 min each on one core
    .venv/bin/python benchmarks/imu_rule_checks.py noisy all|FAMILY [...]        # ~10-12 min each on one core
    .venv/bin/python benchmarks/imu_rule_checks.py noisy_floor all|FAMILY [...]  # seconds each once noisy ran
    .venv/bin/python benchmarks/imu_rule_checks.py seeds all|FAMILY 0 1          # ~15 min each on one core
    .venv/bin/python benchmarks/imu_rule_checks.py seeds_core0 all|FAMILY [...]  # ~1-2 min each once seeds ran
    .venv/bin/python benchmarks/imu_rule_checks.py core_split all|FAMILY [...]   # ~8 min each on one core
    .venv/bin/python benchmarks/imu_rule_checks.py foreign                       # ~1 min once trained
    .venv/bin/python benchmarks/imu_rule_checks.py floor_share SHARE all|FAMILY... # ~4 min each once trained
    .venv/bin/python benchmarks/imu_rule_checks.py floor_walking SHARE           # ~4 min once trained

``noisy``, ``noisy_floor`` and ``foreign`` live in ``imu_noisy_checks.py``, ``seeds`` in ``imu_ensemble_check.py``, ``core_split`` in ``imu_core_split_check.py``,
``floor_share`` and ``floor_walking`` in ``imu_floor_checks.py``.
What each subcommand checks, the rule written before its run and its result: ``docs/imu_rule_checks.md``.
The test split is never read.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
from imu import N_VAL, VAL_S  # a held-out family's validation split: the one its filters are tuned on
from imu_seed_noise import SEED_CACHE

import neuroedge.imu.train as train
from neuroedge.imu.evaluate import score_model
from neuroedge.imu.families import FAMILIES, generate_split

CHECK_CACHE = Path(".cache/imu_rule_checks")
EVERY_START = ("max", "median", "gmean")


def _without(family: str, **settings: float | bool) -> train.TrainConfig:
    return train.TrainConfig(families=tuple(f for f in FAMILIES if f != family), **settings)


def _named(name: str) -> tuple[train.TrainConfig, tuple[str, ...]]:
    """``all``: the in-family settings, scored on every family; a family: trained without it, scored on it."""
    return (train.TrainConfig(), FAMILIES) if name == "all" else (_without(name), (name,))


def _core_with_steps(config: train.TrainConfig, val: list, sigma: list, steps: int) -> dict:
    """``tune_core`` with ``steps`` past each grid's edge (it looks ``_search`` up at call time)."""
    search = train._search
    train._search = partial(search, edge_steps=steps)
    try:
        return train.tune_core(config, val, sigma)
    finally:
        train._search = search


def edge(families: list[str]) -> None:
    for fam in families:
        t = time.time()
        config = _without(fam)
        model, _, _ = train.load_or_train(config)
        val = train.validation(config)
        sigma = [np.exp(model.log_sigma_a(s.acc, s.gyr, s.rate_hz)) for s in val]
        stepped, grid = (_core_with_steps(config, val, sigma, steps) for steps in (3, 0))
        held = generate_split("val", fam, N_VAL, VAL_S)
        e, g = (score_model(model.with_core(train.params_of(c)), held)["tilt_deg"] for c in (stepped, grid))
        print(f"{fam}: own validation stepping {stepped['val_score']:.4f} grid {grid['val_score']:.4f} | "
              f"held-out validation stepping {e:.4f} grid {g:.4f} | {time.time() - t:.0f} s", flush=True)


def target(variant: str) -> None:
    t = time.time()
    if variant == "committed":
        config, cache = _without("impacts"), train.CACHE_DIR
    elif variant in ("causal_s0", "causal_s1"):
        config = _without("impacts", target_window_s=0.25, target_causal=True, seed=int(variant[-1]))
        cache = CHECK_CACHE / variant
    else:
        sys.exit(f"target: unknown variant {variant!r}; expected committed, causal_s0 or causal_s1")
    model, core_only, meta = train.load_or_train(config, cache_dir=cache)
    held = generate_split("val", "impacts", N_VAL, VAL_S)
    print(f"{variant}: own validation {meta['core']['val_score']:.4f}, impacts validation "
          f"{score_model(model, held)['tilt_deg']:.4f} (core only {score_model(core_only, held)['tilt_deg']:.4f}), "
          f"{time.time() - t:.0f} s", flush=True)


def ensemble(family: str, seeds: list[int]) -> None:
    from neuroedge.imu.core import core_scan
    from neuroedge.imu.evaluate import score_run

    t = time.time()
    config = train.TrainConfig() if family == "all" else _without(family)
    val = train.validation(config)
    held = [] if family == "all" else generate_split("val", family, N_VAL, VAL_S)
    logs_val, logs_held = [], []
    for seed in seeds:
        cache = train.CACHE_DIR if seed == 0 else SEED_CACHE
        model, _, meta = train.load_or_train(replace(config, seed=seed), cache_dir=cache)
        logs_val.append([model.log_sigma_a(s.acc, s.gyr, s.rate_hz) for s in val])
        logs_held.append([model.log_sigma_a(s.acc, s.gyr, s.rate_hz) for s in held])
        line = f"seed {seed}: own validation {meta['core']['val_score']:.4f}"
        print(line + (f", {family} validation {score_model(model, held)['tilt_deg']:.4f}" if held else ""), flush=True)
    mean = lambda logs: [np.exp(np.mean(per_seq, axis=0)) for per_seq in zip(*logs, strict=True)]  # noqa: E731
    core = train.tune_core(config, val, mean(logs_val))
    cp, sigma_held = train.params_of(core), mean(logs_held)
    line = f"ensemble of {len(seeds)}: own validation {core['val_score']:.4f}"
    if held:
        run = dict(zip((id(s) for s in held), sigma_held, strict=True))
        err = score_run(lambda s: core_scan(np.ascontiguousarray(s.acc), np.ascontiguousarray(s.gyr), run[id(s)],
                                          s.rate_hz, cp), held)["tilt_deg"]
        line += f", {family} validation {err:.4f}"
    print(line + f" | {time.time() - t:.0f} s", flush=True)


def _best_filter_val(family: str) -> float:
    """The best tuned filter's tilt error on ``family``'s validation split (the split it was tuned on)."""
    from neuroedge.imu.evaluate import load_or_tune_filters

    return min(f["val_tilt_deg"] for f in load_or_tune_filters(family, N_VAL, VAL_S, train.CACHE_DIR).values())


def _held_out(family: str) -> tuple:
    """``(config, network-only model, core validation, its σ_a, held-out validation, best filter there)``
    for the model trained without ``family`` (its network from the cache)."""
    from neuroedge.imu.fast import AttitudeModel
    from neuroedge.imu.learn import load_or_train_network

    config = _without(family)
    arrays, _ = load_or_train_network(config.net(), train.CACHE_DIR)
    model = AttitudeModel.from_arrays(arrays, np.zeros(0))
    val = train.validation(config)
    sigma = [np.exp(model.log_sigma_a(s.acc, s.gyr, s.rate_hz)) for s in val]
    return config, model, val, sigma, generate_split("val", family, N_VAL, VAL_S), _best_filter_val(family)


def _core_scored(config: train.TrainConfig, model: object, val: list, sigma: list, held: list) -> tuple[dict, float]:
    """The core ``config``'s rule chooses on ``val`` (with the network's ``sigma``), and the model's mean tilt
    error with it on the held-out split ``held``."""
    core = train.tune_core(config, val, sigma)
    return core, score_model(model.with_core(train.params_of(core)), held)["tilt_deg"]


def criterion(families: list[str]) -> None:
    for fam in families:
        t = time.time()
        config, model, val, sigma, held, ref = _held_out(fam)
        line = f"{fam}:"
        for name in train.CRITERIA:
            core, err = _core_scored(replace(config, core_criterion=name), model, val, sigma, held)
            line += f" {name} own {core['val_score']:.4f} held-out {err:.4f} ratio {err / ref:.4f} |"
        print(line + f" best filter {ref:.4f} | {time.time() - t:.0f} s", flush=True)


def stiff_z(families: list[str]) -> None:
    for fam in families:
        t = time.time()
        config, model, val, sigma, held, ref = _held_out(fam)
        line = f"{fam}:"
        for grid in (config.stiff_z_grid, (1.0, 2.0, 4.0, 8.0)):
            core, err = _core_scored(replace(config, stiff_z_grid=grid), model, val, sigma, held)
            line += f" z grid {grid}: z_s {core.get('stiff', {}).get('gate_z')} ratio {err / ref:.4f} |"
        print(line + f" {time.time() - t:.0f} s", flush=True)


def _held_and_ref(scored: tuple[str, ...]) -> tuple[dict, dict]:
    """Each scored family's validation split and its best tuned filter's error there."""
    return ({f: generate_split("val", f, N_VAL, VAL_S) for f in scored}, {f: _best_filter_val(f) for f in scored})


def _ratios(label: str, model: object, held: dict, ref: dict) -> str:
    """`` LABEL r r r median m |``: the model's ratio to the best tuned filter on each held split."""
    ratios = [score_model(model, held[f])["tilt_deg"] / ref[f] for f in held]
    return f" {label} {' '.join(f'{r:.3f}' for r in ratios)} median {float(np.median(ratios)):.3f} |"


def setting(field: str, other: int, names: list[str]) -> None:
    """The shipped ``TrainConfig.<field>`` against ``other``, each model's core chosen by the committed rule."""
    for name in names:
        t = time.time()
        config, scored = _named(name)
        held, ref = _held_and_ref(scored)
        line = f"{name}:"
        shipped = getattr(config, field)
        for value in (shipped, other):  # the shipped setting from the model's cache, the other from the check's
            cache = train.CACHE_DIR if value == shipped else CHECK_CACHE / f"{field}{value}"
            model, _, meta = train.load_or_train(replace(config, **{field: value}), cache_dir=cache)
            line += f" {field} {value}: own {meta['core']['val_score']:.4f}" + _ratios("ratios", model, held, ref)
        print(line + f" {time.time() - t:.0f} s", flush=True)


def coverage(names: list[str]) -> None:
    for name in names:
        t = time.time()
        config, scored = _named(name)
        model, _, meta = train.load_or_train(config)
        line = f"{name}:"
        for fam in scored:
            held, ref = generate_split("val", fam, N_VAL, VAL_S), _best_filter_val(fam)
            errs = np.array(score_model(model, held)["per_sequence_tilt_deg"])
            steady = np.array([s.meta["config"].burst_tau_s == 0.0 for s in held])
            parts = [f"{label} {m.sum()}: {errs[m].mean() / ref:.3f}"
                     for label, m in (("steady", steady), ("bursty", ~steady)) if m.any()]
            line += f" {fam} ratio {errs.mean() / ref:.3f} ({', '.join(parts)}) |"
        if name == "all":  # on 0-9 the core's own choice set (0-4) is half of it; 10-19 are fresh (core_split)
            from imu_core_split_check import fresh_in_family

            line += _ratios("in family on fresh validation 10-19:", model, *fresh_in_family())
        print(line + f" own {meta['core']['val_score']:.4f} | {time.time() - t:.0f} s", flush=True)


def starts(names: list[str]) -> None:
    for name in names:
        t = time.time()
        config, scored = _named(name)
        model, _, meta = train.load_or_train(config)  # the committed rule (a single start), cached as the model
        val = train.validation(config)
        sigma = [np.exp(model.log_sigma_a(s.acc, s.gyr, s.rate_hz)) for s in val]
        every = train.tune_core(replace(config, core_starts=EVERY_START), val, sigma)
        line = f"{name}:"
        for fam in scored:
            held, ref = generate_split("val", fam, N_VAL, VAL_S), _best_filter_val(fam)
            r1, r3 = (score_model(model.with_core(cp), held)["tilt_deg"] / ref
                      for cp in (model.core, train.params_of(every)))
            line += f" {fam} single start {r1:.3f} every start {r3:.3f} |"
        print(line + f" own {meta['core']['val_score']:.4f} / {every['val_score']:.4f} "
              f"(start {every['start']}) | {time.time() - t:.0f} s", flush=True)


def steady(path: str | None) -> None:
    from imu_ceiling import core_fed

    from neuroedge.imu.core import core_scan
    from neuroedge.imu.evaluate import score_run, tune_filters
    from neuroedge.imu.fast import AttitudeModel

    model = AttitudeModel.load(path) if path else AttitudeModel.load()
    oracle = lambda s: core_scan(s.acc, s.gyr, core_fed(s), s.rate_hz, model.core)  # noqa: E731 - the true σ_a
    for label, overrides in (("as drawn", {}), ("steady", {"burst_tau_s": 0.0, "pauses": False})):
        seqs = generate_split("val", "random_walk", 6, VAL_S, **overrides)
        best = min(f["val_tilt_deg"] for f in tune_filters(seqs).values())
        print(f"random_walk {label}: model {score_model(model, seqs)['tilt_deg'] / best:.3f}, core with the true "
              f"1 s RMS {score_run(oracle, seqs)['tilt_deg'] / best:.3f} x the best tuned filter ({best:.3f}°)", flush=True)


def _with_core(model: object, entries: dict[int, float]) -> object:
    """``model`` with these core entries (``neuroedge.imu.core``'s layout: 12-15 the velocity cap) set."""
    cp = model.core.copy()
    cp[list(entries)] = list(entries.values())
    return model.with_core(cp)


def _cap_off(model: object) -> object:
    """``model`` with its velocity cap switched off: its core's search ran without it (``tune_core``), so
    this is the core the rule chooses with the cap off."""
    return _with_core(model, {12: 0.0})


def vel_cap(names: list[str]) -> None:
    for name in names:
        t = time.time()
        config, scored = _named(name)
        held, ref = _held_and_ref(scored)
        on, _, _ = train.load_or_train(config)  # the setting as committed: cached for benchmarks/imu.py
        floored = _with_core(on, {15: 1e9})  # the members' floors not capped (the cap as first kept)
        line = (f"{name}:" + _ratios("cap off:", _cap_off(on), held, ref)
                + _ratios("cap, floors kept:", floored, held, ref) + _ratios("cap on:", on, held, ref))
        print(line + f" {time.time() - t:.0f} s", flush=True)


def _grid(base: object, variants: list[tuple[str, object]], foreign: tuple[str, ...]) -> None:
    """Each variant's ratio to ``base`` on our five families' first six 30 s validation sequences, their
    geometric mean (the rule), and on the independent generator's ``foreign`` validation seeds (printed, not used)."""
    from imu_foreign import recording

    sets = {f: generate_split("val", f, 6, 30.0) for f in FAMILIES}
    sets.update({f"{k} (not used)": [recording(1000 + i, k) for i in range(6)] for k in foreign})
    err = lambda m: {f: score_model(m, s)["tilt_deg"] for f, s in sets.items()}  # noqa: E731
    ref = err(base)
    for label, model in variants:
        r = {f: e / ref[f] for f, e in err(model).items()}
        gm = float(np.exp(np.mean([np.log(r[f]) for f in FAMILIES])))
        print(f"{label}: geomean {gm:.4f} | " + " ".join(f"{f} {v:.3f}" for f, v in r.items()), flush=True)


def vel_cap_grid() -> None:
    off = _cap_off(train.load_or_train(train.TrainConfig())[0])
    # the floors not capped, as when this grid chose
    variants = [(f"k {k} leak {leak}", _with_core(off, {12: k, 13: leak, 14: 5.0, 15: 1e9}))
                for k in (1.5, 2.0, 3.0) for leak in (2.0, 5.0)]
    _grid(off, variants, ("walking",))


def vel_cap_floor() -> None:
    on = train.load_or_train(train.TrainConfig())[0]
    variants = [(f"floor share {share}", _with_core(on, {15: share})) for share in (1.0, 0.3, 0.1, 0.03, 0.0)]
    _grid(_with_core(on, {15: 1e9}), variants, ("ahrs", "ahrs_default"))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) >= 2 and args[0] == "edge" and all(f in FAMILIES for f in args[1:]):
        edge(args[1:])
    elif len(args) == 2 and args[0] == "target":
        target(args[1])
    elif len(args) >= 3 and args[0] == "ensemble" and args[1] in ("all", *FAMILIES) and all(a.isdigit() for a in args[2:]):
        ensemble(args[1], [int(a) for a in args[2:]])
    elif len(args) >= 2 and args[0] == "criterion" and all(f in FAMILIES for f in args[1:]):
        criterion(args[1:])
    elif len(args) >= 2 and args[0] == "stiff_z" and all(f in FAMILIES for f in args[1:]):
        stiff_z(args[1:])
    elif (len(args) >= 3 and args[0] in ("steps", "hidden", "seed") and args[1].isdigit()
          and all(f in ("all", *FAMILIES) for f in args[2:])):
        setting(args[0], int(args[1]), args[2:])
    elif len(args) >= 2 and args[0] == "coverage" and all(f in ("all", *FAMILIES) for f in args[1:]):
        coverage(args[1:])
    elif len(args) >= 2 and args[0] == "starts" and all(f in ("all", *FAMILIES) for f in args[1:]):
        starts(args[1:])
    elif len(args) >= 2 and args[0] in ("noisy", "noisy_floor") and all(f in ("all", *FAMILIES) for f in args[1:]):
        import imu_noisy_checks

        getattr(imu_noisy_checks, args[0])(args[1:])
    elif (len(args) >= 4 and args[0] == "seeds" and args[1] in ("all", *FAMILIES)
          and all(a.isdigit() for a in args[2:])):
        import imu_ensemble_check

        imu_ensemble_check.seeds([args[1]], [int(a) for a in args[2:]])
    elif len(args) >= 2 and args[0] == "seeds_core0" and all(f in ("all", *FAMILIES) for f in args[1:]):
        import imu_ensemble_check

        imu_ensemble_check.seeds_core0(args[1:], [0, 1])
    elif len(args) >= 2 and args[0] == "core_split" and all(f in ("all", *FAMILIES) for f in args[1:]):
        import imu_core_split_check

        imu_core_split_check.core_split(args[1:])
    elif len(args) >= 3 and args[0] == "floor_share" and all(f in ("all", *FAMILIES) for f in args[2:]):
        import imu_floor_checks

        imu_floor_checks.floor_share(float(args[1]), args[2:])
    elif len(args) == 2 and args[0] == "floor_walking":
        import imu_floor_checks

        imu_floor_checks.floor_walking(float(args[1]))
    elif args == ["foreign"]:
        import imu_noisy_checks

        imu_noisy_checks.foreign()
    elif len(args) >= 2 and args[0] == "vel_cap" and all(f in ("all", *FAMILIES) for f in args[1:]):
        vel_cap(args[1:])
    elif args == ["vel_cap_grid"]:
        vel_cap_grid()
    elif args == ["vel_cap_floor"]:
        vel_cap_floor()
    elif len(args) in (1, 2) and args[0] == "steady":
        steady(args[1] if len(args) == 2 else None)
    else:
        sys.exit(f"usage: imu_rule_checks.py edge FAMILY... ({', '.join(FAMILIES)}) | target VARIANT | "
                 "ensemble all|FAMILY SEED... | criterion FAMILY... | stiff_z FAMILY... | steps N all|FAMILY... | hidden N all|FAMILY... | seed N all|FAMILY... | "
                 "coverage all|FAMILY... | starts all|FAMILY... | noisy all|FAMILY... | noisy_floor all|FAMILY... | vel_cap all|FAMILY... | vel_cap_grid | vel_cap_floor | "
                 "steady [MODEL.npz] | seeds all|FAMILY SEED SEED... | seeds_core0 all|FAMILY... | core_split all|FAMILY... | foreign | floor_share SHARE all|FAMILY... | "
                 "floor_walking SHARE")


if __name__ == "__main__":
    main()
