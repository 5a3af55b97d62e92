"""IMU training rules checked on validation only: the figures ``train.py``'s doc and the README quote.

    .venv/bin/python benchmarks/imu_rule_checks.py edge FAMILY [FAMILY ...]   # ~2-4 min per family
    .venv/bin/python benchmarks/imu_rule_checks.py target VARIANT             # ~12 min on one core
    .venv/bin/python benchmarks/imu_rule_checks.py ensemble all|FAMILY SEED... # ~5 min once the seeds are trained
    .venv/bin/python benchmarks/imu_rule_checks.py criterion FAMILY [FAMILY ...] # ~3 min per family
    .venv/bin/python benchmarks/imu_rule_checks.py stiff_z FAMILY [FAMILY ...]   # ~3 min per family
    .venv/bin/python benchmarks/imu_rule_checks.py steps all|FAMILY [...]        # ~15 min each on one core
    .venv/bin/python benchmarks/imu_rule_checks.py coverage all|FAMILY [...]     # ~1 min each, trained
    .venv/bin/python benchmarks/imu_rule_checks.py steady [MODEL.npz]            # ~3 min on one core
    .venv/bin/python benchmarks/imu_rule_checks.py vel_cap all|FAMILY [...]      # ~8 min each on one core
    .venv/bin/python benchmarks/imu_rule_checks.py vel_cap_grid                  # ~10 min on one core
    .venv/bin/python benchmarks/imu_rule_checks.py starts all|FAMILY [...]       # ~10 min each on one core

``edge``: for each family, the model trained without it (cached, ``load_or_train``), its core chosen with
stepping past the grids' edges (3 steps) and on the grids only (0), each scored on the held-out family's
validation split (10 x 40 s); the rule keeps the way with the lower geometric mean over the five.
``target``: the network trained without impacts under ``committed`` (the shipped settings: a centred 1 s
target), ``causal_s0`` or ``causal_s1`` (a causal 0.25 s target, seed 0 or 1), its core chosen by the committed rule; its
own core-validation error and its error on impacts' validation split (held out). Variants other than
``committed`` train into their own cache folder under ``.cache/imu_rule_checks/``, never the model's.
``ensemble``: the in-family model (``all``) or the one trained without FAMILY, for each SEED (0 from the
model's cache, others from ``benchmarks/imu_seed_noise.py``'s; trained there if missing); their networks'
``log σ_a`` averaged, a core chosen for that by the committed rule; each seed and the ensemble scored on
the core's own validation split and, for a held-out FAMILY, on its validation split (10 x 40 s).
``criterion``: for each family, the model trained without it (cached), its core as committed (chosen by
the geometric mean of the tilt errors over its training families' validation, ``geomean``) and chosen
again by ``worst_family``: the largest, over its training families, of the family's geometric mean of
per-sequence ratios to that family's best tuned filter (the filters tuned on that family's validation
split, as the benchmark tunes them; the best by validation error). Why try it: the goal is never to be
worse than the best tuned filter on motion the model has not seen, and a core that is close to the filters
on every family it knows, rather than best on average, may hold better on one it does not. Each core is
scored on the held-out family's validation split (10 x 40 s) as the ratio of its mean tilt error to the
best tuned filter's validation error there. The rule, written before the run: ``worst_family`` replaces
``geomean`` if, over the five held-out families, its largest ratio is lower and its median ratio is at
most 0.02 above ``geomean``'s. Result (2026-12-03, networks of a9218bd): largest 1.108 (random_walk) /
0.929 (vehicle), median 0.839 / 0.679, so ``worst_family`` is the rule now (``neuroedge.imu.train``'s doc
has every family's figures).
``stiff_z``: for each family, the model trained without it (cached), its core as committed (the stiff
filter's gate threshold ``z_s`` on the grid 1, 2) and chosen again with the grid 1, 2, 4, 8, both by
the committed criterion; each scored on the held-out family's validation split as the ratio to its
best tuned filter. Why: on the independent generator's walking validation seeds a higher ``z_s`` kept
the stiff filter in front (README). The rule, written before the run: the wider grid replaces the
current one if, over the five held-out families, its largest ratio is no higher and its median at most
0.02 above. Result (2026-12-03; current / wider grid, z_s chosen): handheld 0.658 / 0.658 (2 / 2),
random_walk 0.679 / 0.706 (2 / 4), vehicle 0.927 / 0.927 (2 / 2), fast_rotation 0.667 / 0.667,
impacts 0.786 / 0.786: largest 0.927 / 0.927, median 0.679 / 0.706 (+0.027), so the grid stays 1, 2.
``steps``: the networks trained 4000 steps instead of 2000 (the setting not shipped in its own cache folder; the cosine schedule
stretched with them), each core chosen by the committed rule. Why: the networks' validation loss is at
its lowest near the end of their 2000 steps (selected steps 1475-1975), and ``imu_ceiling.py`` puts what
stops the in-family goal in the network's estimate of ``σ_a``. For FAMILY, the model trained without it
at 2000 and at 4000 steps, each scored on FAMILY's validation split as the ratio to its best tuned filter;
for ``all``, the in-family model at both, scored on every family's validation split the same way. The
rule, written before the run: 4000 steps replaces 2000 if, over the five held-out families, the largest
ratio is no higher and the median at most 0.02 above, and the in-family model's median ratio over the
five families is lower.
Result (2026-12-03; 2000 / 4000 steps): held out, handheld 0.614 / 0.617, random_walk 0.690 / 0.682,
vehicle 0.927 / 0.858, fast_rotation 0.641 / 0.572, impacts 0.867 / 0.785: largest 0.927 / 0.858,
median 0.690 / 0.682; in family 0.578/0.643/0.815/0.402/0.701 / 0.499/0.598/0.651/0.348/0.709, median
0.643 / 0.598. So 4000 steps is the setting now (``neuroedge.imu.train.TrainConfig.steps``).
``coverage``: the shipped training settings (``load_or_train``, cached), for FAMILY the model trained
without it scored on FAMILY's validation split as the ratio to its best tuned filter, for ``all`` the
in-family model on every family's; each ratio also over the split's steady and bursty sequences apart
(``neuroedge.imu.families._steady``). The rule for steady intensity, written before its run: kept only if
every held-out ratio is at most 1.0. Result (2026-12-03, networks of bfce968): handheld 0.510, random_walk
0.543 (steady 0.720, bursty 0.366), vehicle 0.969, fast_rotation 0.644, impacts 0.844, so it is kept; in
family 0.491/0.534/0.757/0.451/0.767. The rule for the core's measured gyro noise (``TrainConfig.gyro_noise_s``
= 1 s, ``neuroedge.imu.core``), written before its run: with the six cores chosen again by the committed
rule (networks unchanged), kept only if every held-out ratio is at most 1.0, the held-out median at most
0.664 (0.644 + 0.02) and the in-family median at most 0.554 (0.534 + 0.02): it is for sensors outside our
families (``benchmarks/imu_foreign.py``'s ``ahrs_default``), so it must cost ours next to nothing.
``steady``: the diagnosis behind steady intensity, on random_walk's first 6 validation sequences as
drawn and the same seeds with the burst envelope off and no pauses: every filter tuned on each set, and
the ratio to the best of them of the shipped model (or MODEL.npz) and of its core fed the true 1 s RMS
as ``σ_a`` (the network's target: a perfect network).
``starts``: the core search's first stage (one bounded filter) chosen by the worst family alone, or also
by the median and by the geometric mean of the family ratios with the rest of the search run from each
(``neuroedge.imu.train.tune_core``; the lowest worst family at the end wins). Why: on the in-family
model's core validation the staged search by the worst family ended at 0.766 (random_walk), while a
whole search by the median family, scored by its worst family, ended at 0.566. A single bounded filter
is worst on random_walk whatever it is (that family needs the loose filter the next stage adds), so the
worst family picks the bounded filter least bad there (c=1, τ=2.4 s), a poor one to build on. For
FAMILY, the model trained without it, its core chosen both ways, scored on FAMILY's validation split as
the ratio to its best tuned filter; for ``all``, the in-family model on every family's. The rule,
written before the run: every start replaces the single start if, over the five held-out families, the
largest ratio is no higher and the median at most 0.02 above, and the in-family model's median ratio
over the five families is lower. Result (2026-12-03, networks of bfce968; single / every start): held
out, handheld 0.510 / 0.552, random_walk 0.543 / 0.724, vehicle 0.969 / 0.830, fast_rotation 0.644 /
0.804, impacts 0.844 / 0.844: largest 0.969 / 0.844, median 0.644 / 0.804; in family 0.491/0.534/0.757/
0.451/0.767 / 0.501/0.361/0.599/0.414/0.598, median 0.534 / 0.501; own worst family 0.766 / 0.543 (in
family). Refused on the held-out median: the wider search fits the training families' worst better and
holds worse on a family it has not seen, so a single start stays (``TrainConfig.core_starts``).
``vel_cap``: the bounded members' velocity cap (``TrainConfig.vel_cap``, ``neuroedge.imu.core``) off and on,
each core chosen by the committed rule on the same network; for FAMILY the model trained without it, for
``all`` the in-family one, scored as ``coverage`` scores. Why: on the independent generator's walking
validation seeds (``benchmarks/imu_foreign.py``, seeds 1000-1005) the shipped model scored 3.07° against
tuned VQF's 2.01°, its stiff member alone 1.52°: a gait's σ_a said a velocity ten times the real one, so
the gate handed over to a member that all but ignored the accelerometer. Its constants ``(1.5, 5 s, 5 s)``
by ``vel_cap_grid``: k 1.5, 2, 3 x leak 2, 5 s (window 5 s) with the in-family core chosen without the
cap, the lowest geometric mean over our five families' first six 30 s validation sequences of the ratio
to the cap off (walking is printed, not used). The rule,
written before its run (as for the measured gyro noise: it is for motion outside our families, so it
must cost ours next to nothing): kept only if every held-out ratio is at most 1.0 and the held-out and
in-family medians are at most 0.02 above the cap off's. Result 1 (2026-12-04, networks cached, the cap on
during the core search; grid: 1.5/5 s won, geomean 0.974, walking 0.711 of the cap off): held out, off /
on, handheld 0.510 / 0.471, random_walk 0.544 / 0.556, vehicle 0.970 / 0.987, fast_rotation 0.660 /
0.633, impacts 0.839 / **1.101**; in family 0.491/0.534/0.758/0.464/0.764 / 0.453/0.535/0.769/0.465/0.734.
**Refused** on impacts. Why: with the cap on, the search left out the stiff member (the capped bounded
one covered its role on the training families), and impacts needed it: the same network with the core
chosen without the cap and the cap then switched on scored 0.717 there (without the cap 0.839). So
(variant 2, now committed) the core is chosen with the cap off and the cap switched on after the search:
it must not change which members the core has. The same rule, written before its run. Result 2
(2026-12-04): held out, off / on, handheld 0.510 / 0.471, random_walk 0.544 / 0.544, vehicle 0.970 /
0.987, fast_rotation 0.660 / 0.647, impacts 0.839 / 0.717: largest 0.970 / 0.987 (at most 1.0), median
0.660 / 0.647; in family 0.491/0.534/0.758/0.464/0.764 / 0.453/0.535/0.769/0.465/0.734, median 0.534 /
0.535. **Kept** (``TrainConfig.vel_cap``).
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


def steps(names: list[str]) -> None:
    for name in names:
        t = time.time()
        config, scored = _named(name)
        held = {f: generate_split("val", f, N_VAL, VAL_S) for f in scored}
        ref = {f: _best_filter_val(f) for f in scored}
        line = f"{name}:"
        for n_steps in (2000, 4000):  # the shipped setting from the model's cache, the other from the check's
            cache = train.CACHE_DIR if n_steps == config.steps else CHECK_CACHE / f"steps{n_steps}"
            model, _, meta = train.load_or_train(replace(config, steps=n_steps), cache_dir=cache)
            ratios = [score_model(model, held[f])["tilt_deg"] / ref[f] for f in scored]
            line += (f" {n_steps} steps: own {meta['core']['val_score']:.4f} ratios "
                     f"{' '.join(f'{r:.3f}' for r in ratios)} median {float(np.median(ratios)):.3f} |")
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
    from neuroedge.imu.core import core_scan
    from neuroedge.imu.evaluate import score_run, tune_filters
    from neuroedge.imu.fast import AttitudeModel
    from neuroedge.imu.learn import TARGET_FLOOR, disturbance_target

    model = AttitudeModel.load(path) if path else AttitudeModel.load()
    oracle = lambda s: core_scan(s.acc, s.gyr, np.maximum(np.exp(disturbance_target(s)[:, 0]) - TARGET_FLOOR, 1e-3),  # noqa: E731
                                 s.rate_hz, model.core)
    for label, overrides in (("as drawn", {}), ("steady", {"burst_tau_s": 0.0, "pauses": False})):
        seqs = generate_split("val", "random_walk", 6, VAL_S, **overrides)
        best = min(f["val_tilt_deg"] for f in tune_filters(seqs).values())
        print(f"random_walk {label}: model {score_model(model, seqs)['tilt_deg'] / best:.3f}, core with the true "
              f"1 s RMS {score_run(oracle, seqs)['tilt_deg'] / best:.3f} x the best tuned filter ({best:.3f}°)", flush=True)


def _cap_off(config: train.TrainConfig, model: object) -> object:
    """``model`` with the core ``config``'s rule chooses for it with the velocity cap off."""
    val = train.validation(config)
    sigma = [np.exp(model.log_sigma_a(s.acc, s.gyr, s.rate_hz)) for s in val]
    return model.with_core(train.params_of(train.tune_core(replace(config, vel_cap=(0.0, 5.0, 5.0)), val, sigma)))


def vel_cap(names: list[str]) -> None:
    for name in names:
        t = time.time()
        config, scored = _named(name)
        held = {f: generate_split("val", f, N_VAL, VAL_S) for f in scored}
        ref = {f: _best_filter_val(f) for f in scored}
        on, _, _ = train.load_or_train(config)  # the setting as committed: cached for benchmarks/imu.py
        off = on.with_core(on.core.copy())
        off.core[12] = 0.0  # the same search, run with the cap off (``tune_core``): only the switch differs
        line = f"{name}:"
        for label, model in (("off", off), ("on", on)):
            ratios = [score_model(model, held[f])["tilt_deg"] / ref[f] for f in scored]
            line += f" cap {label}: {' '.join(f'{r:.3f}' for r in ratios)} median {float(np.median(ratios)):.3f} |"
        print(line + f" {time.time() - t:.0f} s", flush=True)


def vel_cap_grid() -> None:
    from imu_foreign import recording

    config = train.TrainConfig()
    off = _cap_off(config, train.load_or_train(config)[0])
    sets = {f: generate_split("val", f, 6, 30.0) for f in FAMILIES}
    sets["walking (not used)"] = [recording(1000 + i, "walking") for i in range(6)]
    err = lambda m: {f: score_model(m, s)["tilt_deg"] for f, s in sets.items()}  # noqa: E731
    base = err(off)
    for k in (1.5, 2.0, 3.0):
        for leak in (2.0, 5.0):
            cp = off.core.copy()
            cp[12:15] = (k, leak, 5.0)
            r = {f: e / base[f] for f, e in err(off.with_core(cp)).items()}
            gm = float(np.exp(np.mean([np.log(r[f]) for f in FAMILIES])))
            print(f"k {k} leak {leak}: geomean {gm:.4f} | " + " ".join(f"{f} {v:.3f}" for f, v in r.items()), flush=True)


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
    elif len(args) >= 2 and args[0] == "steps" and all(f in ("all", *FAMILIES) for f in args[1:]):
        steps(args[1:])
    elif len(args) >= 2 and args[0] == "coverage" and all(f in ("all", *FAMILIES) for f in args[1:]):
        coverage(args[1:])
    elif len(args) >= 2 and args[0] == "starts" and all(f in ("all", *FAMILIES) for f in args[1:]):
        starts(args[1:])
    elif len(args) >= 2 and args[0] == "vel_cap" and all(f in ("all", *FAMILIES) for f in args[1:]):
        vel_cap(args[1:])
    elif args == ["vel_cap_grid"]:
        vel_cap_grid()
    elif len(args) in (1, 2) and args[0] == "steady":
        steady(args[1] if len(args) == 2 else None)
    else:
        sys.exit(f"usage: imu_rule_checks.py edge FAMILY... ({', '.join(FAMILIES)}) | target VARIANT | "
                 "ensemble all|FAMILY SEED... | criterion FAMILY... | stiff_z FAMILY... | steps all|FAMILY... | "
                 "coverage all|FAMILY... | starts all|FAMILY... | vel_cap all|FAMILY... | vel_cap_grid | "
                 "steady [MODEL.npz]")


if __name__ == "__main__":
    main()
