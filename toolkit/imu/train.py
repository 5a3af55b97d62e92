"""Train the attitude model on a randomised mix of motion families, choose its core on validation, cache it.

1. **The network** learns ``log σ_a`` (``neuroedge.imu.learn``). It does not depend on the core, so it is
   cached on its own key (its settings, the generator, the network, ``learn.py``): a change to the core or
   to this rule chooses the core again (minutes) and reuses the trained networks.
2. **The core** (``neuroedge.imu.core``) is chosen on the validation split (``core_n_val`` x ``core_val_s``
   per family, more than the network's, so the gate's averaging time has room to act) by its **worst
   family**: per family, the geometric mean over its sequences of the tilt error over the best tuned
   filter's on the same sequence (``filter_reference``); the largest of those is minimised. Why not the
   geometric mean of the errors over all sequences (``geomean``, the rule until 2026-12-03)? It lets four
   families the core fits well outvote one it fits badly, and the goal is to be no worse than the best
   tuned filter on motion the model has not seen. Checked on that stand-in by a rule written before the
   run (``benchmarks/imu_rule_checks.py criterion``): each leave-one-family-out model's core chosen both
   ways, scored on its held-out family's validation split as the ratio to that family's best tuned
   filter. ``geomean`` / ``worst_family``: handheld 0.663 / 0.658, random_walk 1.108 / 0.679, vehicle
   0.839 / 0.929, fast_rotation 0.644 / 0.667, impacts 0.926 / 0.786; largest 1.108 / 0.929, median
   0.839 / 0.679, so ``worst_family`` replaced it. Its own validation error is higher (in family the
   geometric mean it no longer minimises). The search is a fixed rule:
   (a) one bounded hypothesis ``(c, floor, τ)`` on a grid; (b) a loose second hypothesis ``(c_1, τ_1)`` and
   its consistency gate (averaging time ``T``, threshold ``z_0``) on a grid, kept only if it lowers the
   validation score; (c) a stiff member in front of those ``(c_s, floor_s, τ_s)`` with its own gate
   threshold ``z_s`` (small velocity noise: "vibrating or shaken in place", where a velocity that barely
   moves makes the accelerometer's mean a sharp tilt reference), on a grid, kept only if it lowers the
   validation score (a ``z_s`` grid of 1-8, not 1-2, was checked and refused by its rule:
   ``benchmarks/imu_rule_checks.py stiff_z``); (d) a physics floor under the network's ``σ_a`` (the RMS of ``|f| - g``, see
   ``neuroedge.imu.core.core_step``) on a grid, kept only if it lowers the validation score; (e) under
   ``worst_family`` only, a fourth member just before the bounded one, kept by the lowest median family
   within ``fourth_tolerance`` of the worst (``_fourth``; ``docs/imu_core.md``). The grids
   are where the search stops (``EDGE_STEPS = 0``). Stepping on past an edge while the training
   families' validation error falls (up to 3 steps) was tried for one benchmark: it lowered every
   core's own validation error, and drove the constants to extremes (with the causal-target network of
   the time, in family: velocity time constants 0.075 and 0.15 s, gate threshold 0.25, a 1/32 s floor
   window) that did worse on a generator written apart from ours. Settled on the honest stand-in for
   unseen motion, by a rule written before the run: each leave-one-family-out model's core (the causal
   target's networks) chosen both ways, scored on its held-out family's validation split (10 x 40 s),
   the lower geometric mean over the five kept. Stepping, then the grid only: handheld 0.708 / 0.593°,
   random_walk 3.036 / 3.013°, vehicle 1.833 / 1.839°, fast_rotation 0.660 / 0.592°, impacts
   0.517 / 0.635° (geometric mean 1.7% lower on the grid only, a narrow margin: impacts prefers
   stepping). ``benchmarks/imu_rule_checks.py edge`` reruns it. The ablation (the same core with a
   constant ``σ_a`` in place of the network, "core only") is chosen the same way. A first version chose
   on 3 x 30 s per family and then chose the bounded hypothesis again with the gate fixed; its benchmark
   (commit c6e3a00) lost to its own core only on fast_rotation and impacts (a gate at ``z_0 = 1``
   opening on bounded motion), so the split grew to 5 x 40 s (the test sequences' length) and the
   second pass went.

   Why a consistency gate and not a bank weighted online by likelihood? Tried on validation (4 x 40 s per
   family, the in-family network): weighted by the likelihood of their own innovations, a bank of ``τ``
   from 0.3 to 200 s puts its weight on the longest ``τ`` on every family (the one that pulls a smooth
   velocity back least predicts the next sample best), so it is that one member: handheld 1.64° against
   0.89° for the chosen single hypothesis, random_walk 5.26° against 6.85°. Weighting by the horizontal
   specific force each member's attitude leaves over 10-30 s gave random_walk 5.7-6.1° and vehicle 3.3°
   (single: 6.85°, 3.53°) but handheld 1.0-1.25° and impacts 0.73-1.4° (single: 0.89°, 0.72°). The
   bounded member's own velocity consistency ``z̄`` separates the physics instead (6 x 40 s validation per
   family, the network trained without random_walk, bounded member (1, 0.3 s)): its mean stays at
   0.03-1.0 on every handheld, fast_rotation and impacts sequence and reaches 9-22 on every random_walk
   one (vehicle: 0.01-41, high where the bounded member is wrong).

Cached under ``.cache/imu_attitude/`` by a content hash of the settings and of the source of the data
generator, the network, the core and these files (the network under its own key, ``neuroedge.imu.learn``).

    .venv/bin/python -m neuroedge.imu.train [--families handheld,vehicle] [--steps 4000]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from neuroedge.bundle import atomic_write_bytes
from neuroedge.imu.cache_seed import fetch
from neuroedge.imu.core import core_params, core_scan
from neuroedge.imu.families import FAMILIES, ImuSequence, generate_split
from neuroedge.imu.fast import AttitudeModel
from neuroedge.imu.learn import TARGET_FLOOR, NetConfig, disturbance_target, load_or_train_network

__all__ = ["TARGET_FLOOR", "TrainConfig", "disturbance_target", "load_or_train", "tilt_deg", "tune_core"]

CACHE_DIR = Path(".cache/imu_attitude")
WARMUP_S = 5.0  # scored after this, as every method (the same constant as the baselines)
SOURCES = ("families.py", "network.py", "learn.py", "core.py", "member.py", "net_step.py", "core_settings.py", "fast.py",
           "train.py")


@dataclass(frozen=True)
class TrainConfig:
    families: tuple[str, ...] = FAMILIES
    # optimiser steps (one per chunk): the only cap, so a run is the same on any machine. 4000, not 2000, by
    # the rule of ``benchmarks/imu_rule_checks.py steps`` (held-out validation: largest ratio 0.927 -> 0.858)
    steps: int = 4000
    batch: int = 8
    duration_s: float = 20.0
    rates_hz: tuple[float, float] = (50.0, 400.0)
    chunk: int = 1000
    lr: float = 3e-3  # peak; cosine decay to lr/20 over ``steps``
    select_every: int = 25
    target_window_s: float = 1.0  # centred; chosen on validation (neuroedge.imu.learn's doc)
    target_causal: bool = False
    hidden: int = 32
    kernel: int = 8
    channels: int = 4
    seed: int = 0
    n_val: int = 2  # per family
    val_duration_s: float = 20.0
    c_grid: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    floor_grid: tuple[float, ...] = (0.02, 0.1, 0.3, 1.0)
    tau_grid: tuple[float, ...] = (0.3, 0.6, 1.2, 2.4)
    sigma_grid: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)  # core only: the constant σ_a (m/s²)
    slow_tau_grid: tuple[float, ...] = (30.0, 200.0)  # the loose member's τ_1
    slow_c_grid: tuple[float, ...] = (3.0, 10.0, 30.0)  # its c_1 as a multiple of c_0
    gate_s_grid: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)  # the gate's averaging time T (1 s: a device put down)
    gate_z_grid: tuple[float, ...] = (1.0, 2.0, 4.0)  # the gate's threshold z_0 (1: the model's own limit)
    stiff_c_grid: tuple[float, ...] = (0.1, 0.25)  # (c) a stiff member in front: its c, floor (m/s), τ, z_0
    stiff_floor_grid: tuple[float, ...] = (0.03, 0.1)
    stiff_tau_grid: tuple[float, ...] = (0.3, 1.2)
    stiff_z_grid: tuple[float, ...] = (1.0, 2.0)
    accel_floor_grid: tuple[float, ...] = (0.7, 1.0)  # (d) σ_a >= k x RMS(|f| - g): k, and the RMS window (s)
    accel_floor_s_grid: tuple[float, ...] = (0.5, 2.0)
    # (e) a fourth member just tighter than the bounded one, for hand-like motion: its c, τ, floor, z_0, kept by
    # the median family within ``fourth_tolerance`` of the worst (``_fourth``; docs/imu_rule_checks.md fourth_member)
    fourth_c_grid: tuple[float, ...] = (0.25, 0.5)
    fourth_tau_grid: tuple[float, ...] = (1.2, 2.4)  # no shorter than a hand motion's (fourth_long)
    fourth_floor_grid: tuple[float, ...] = (0.01, 0.03)
    fourth_z_grid: tuple[float, ...] = (0.5, 1.0)
    fourth_tolerance: float = 0.0375
    core_n_val: int = 5  # per family: the core's validation split (the network's is n_val x val_duration_s)
    core_val_s: float = 40.0
    core_criterion: str = "worst_family"  # or "geomean" (``_core_error``; module doc)
    # worst_family only: the first stage searched by each of these aggregates of the family ratios ("max",
    # "median", "gmean"), the rest of the search from each, the lowest worst family at the end wins
    # (``tune_core``). Only "max": every start lowered the training families' worst ratio but held worse
    # on held-out families (median 0.644 -> 0.804), so its rule refused it (imu_rule_checks.py starts)
    core_starts: tuple[str, ...] = ("max",)
    # the gyro's measured noise under the datasheet figure, averaged over this many seconds (0: off; not
    # searched: physics in every member and stage, neuroedge.imu.core's doc; its rule in imu_rule_checks.py)
    gyro_noise_s: float = 1.0
    # the bounded members' velocity cap ``(k, leak_s, window_s)`` (``neuroedge.imu.core``; k = 0: off); not
    # searched, switched on after the search (``tune_core``); its constants and rule: imu_rule_checks.py vel_cap
    vel_cap: tuple[float, float, float, float] = (1.5, 5.0, 5.0, 0.0)  # the 4th: the floor's share (docs/imu_core.md)

    def net(self) -> NetConfig:
        """The network's own settings (its cache key)."""
        return NetConfig(**{f.name: getattr(self, f.name) for f in fields(NetConfig)})

    def key(self) -> str:
        """Content hash: these settings plus the source of everything that makes the data and the model."""
        here = Path(__file__).resolve().parent
        blob = json.dumps(asdict(self), sort_keys=True, default=str).encode()
        for name in SOURCES:
            blob += (here / name).read_bytes()
        return hashlib.sha256(blob).hexdigest()[:12]


def validation(config: TrainConfig) -> list[ImuSequence]:
    """The core's validation split: ``core_n_val`` x ``core_val_s`` per training family."""
    return [s for f in config.families for s in generate_split("val", f, config.core_n_val, config.core_val_s)]


def tilt_deg(q: np.ndarray, seq: ImuSequence, warmup_s: float = WARMUP_S) -> float:
    from neuroedge.imu import quaternion as quat

    start = int(round(warmup_s * seq.rate_hz))
    return float(np.mean(quat.tilt_error_deg(q[start:], seq.q[start:])))


CRITERIA = ("geomean", "worst_family")


AGGREGATES = {"max": np.max, "median": np.median, "gmean": lambda r: np.exp(np.mean(np.log(r)))}


def _core_error(cp: np.ndarray, seqs: Sequence[ImuSequence], sigma_a: Sequence[np.ndarray],
                reference: Sequence[float] | None = None, aggregate: str = "max") -> float:
    """Without ``reference`` (``geomean``): the geometric mean of the sequences' tilt errors, scale-free, so
    a family with large errors (a vehicle's) does not outvote one with small errors (a hand's). With it
    (``worst_family``): per family, the geometric mean of each sequence's error over its ``reference`` (the
    best tuned filter's error on it, ``filter_reference``); the largest over the families (``aggregate``:
    or their median, or geometric mean, for ``tune_core``'s other starts)."""
    logs = _log_errors(cp, seqs, sigma_a)
    if reference is None:
        return float(np.exp(logs.mean()))
    return float(AGGREGATES[aggregate](_family_ratios(logs, seqs, reference)))


def _log_errors(cp: np.ndarray, seqs: Sequence[ImuSequence], sigma_a: Sequence[np.ndarray]) -> np.ndarray:
    """Each sequence's log tilt error under the core ``cp`` fed ``sigma_a``."""
    return np.array([np.log(tilt_deg(core_scan(s.acc, s.gyr, sa, s.rate_hz, cp), s))
                     for s, sa in zip(seqs, sigma_a, strict=True)])


def _family_ratios(logs: np.ndarray, seqs: Sequence[ImuSequence], reference: Sequence[float]) -> np.ndarray:
    """Per family, the geometric mean of its sequences' error over ``reference`` (``logs``: their log errors)."""
    ratios = logs - np.log(np.asarray(reference))
    fams = np.array([s.meta["family"] for s in seqs])
    return np.array([np.exp(ratios[fams == f].mean()) for f in dict.fromkeys(fams)])


def _fourth(config: TrainConfig, incumbent: dict, ratios_of: Callable[[dict], np.ndarray],
            log: Callable[[str], None] | None) -> dict:
    """Stage (e): a fourth member just before the bounded one, ``(c, τ, floor, z_0)`` on its grids. Of the choices
    whose worst family is within ``fourth_tolerance`` of the incumbent's, the lowest median family (then the
    lowest worst) is kept if that median is below the incumbent's (docs/imu_rule_checks.md, fourth_member)."""
    base = ratios_of(incumbent)
    best, key = incumbent, (float(np.median(base)), float(base.max()))
    hyps = [tuple(h) for h in incumbent["hypotheses"]]
    at = max(len(hyps) - 2, 0)
    for c, t, f, z in itertools.product(config.fourth_c_grid, config.fourth_tau_grid, config.fourth_floor_grid,
                                        config.fourth_z_grid):
        choice = {**incumbent, "hypotheses": [*hyps[:at], (c, t, f, z), *hyps[at:]],
                  "fourth": {"c": c, "tau": t, "floor": f, "gate_z": z}}
        r = ratios_of(choice)
        cand = (float(np.median(r)), float(r.max()))
        if log:
            log(f"+ fourth (c={c}, tau={t}, floor={f}, z0={z}): worst {cand[1]:.3f} median {cand[0]:.3f}")
        if cand[1] <= base.max() + config.fourth_tolerance and cand < key:
            best, key = {**choice, "val_score": cand[1]}, cand
    return {**best, "without_fourth_val_score": float(base.max()), "without_fourth_median": float(np.median(base)),
            "val_median": key[0]}


def filter_reference(seqs: Sequence[ImuSequence]) -> list[float]:
    """Per sequence, the tilt error of its family's best tuned filter: the filters tuned on the family's
    validation split as the benchmark tunes them (``FILTER_VAL_SPLIT``, cached under ``CACHE_DIR``), the
    best by validation error, run on each sequence itself (with the default settings the core's validation
    sequences are that split's first ones)."""
    from neuroedge.imu.baselines import BASELINES, evaluate
    from neuroedge.imu.evaluate import FILTER_VAL_SPLIT, load_or_tune_filters

    tuned = {f: load_or_tune_filters(f, *FILTER_VAL_SPLIT, CACHE_DIR) for f in {s.meta["family"] for s in seqs}}
    out = []
    for s in seqs:
        family = tuned[s.meta["family"]]
        best = min(family, key=lambda name: family[name]["val_tilt_deg"])
        out.append(evaluate(BASELINES[best].run, [s], family[best]["params"])["tilt_deg"])
    return out


EDGE_STEPS = 0  # steps past a grid's edge, each kept only if the validation error falls (0: see the module doc)


def _search(make: Callable[..., tuple[str, dict]], grids: Sequence[Sequence[float]], best: dict | None,
            err_of: Callable[[dict], float], log: Callable[[str], None] | None, edge_steps: int = EDGE_STEPS) -> dict:
    """One stage: ``make(*args)`` scored for every ``args`` in the grids' product, the best kept (``best``
    unless one beats it). Then, as for the filters (``neuroedge.imu.baselines.tune``), each option whose
    chosen value sits at an edge of its grid steps on past it by the grid's own ratio at that end, while
    the validation error falls, at most ``edge_steps`` times (the core rule uses none: module doc)."""
    chosen: tuple[float, ...] | None = None

    def score(args: tuple[float, ...]) -> bool:
        nonlocal best, chosen
        label, choice = make(*args)
        choice["val_score"] = err_of(choice)
        if log:
            log(f"{label}: {choice['val_score']:.3f}")
        if best is None or choice["val_score"] < best["val_score"]:
            best, chosen = choice, args
            return True
        return False

    for args in itertools.product(*grids):
        score(tuple(args))
    for i, grid in enumerate(grids):
        if chosen is None or len(grid) < 2 or chosen[i] <= 0:
            continue
        for edge, ratio in ((grid[-1], grid[-1] / grid[-2]), (grid[0], grid[0] / grid[1])):
            for _ in range(edge_steps):
                if chosen[i] != edge or not score((*chosen[:i], edge * ratio, *chosen[i + 1:])):
                    break
                edge = chosen[i]
    assert best is not None
    return best


def tune_core(config: TrainConfig, seqs: Sequence[ImuSequence], sigma_a: Sequence[np.ndarray] | None,
              log: Callable[[str], None] | None = None) -> dict:
    """Stage 2 (rule in the module doc). ``sigma_a=None``: the core-only ablation (a constant ``σ_a``)."""
    if config.core_criterion not in CRITERIA:
        raise ValueError(f"core_criterion {config.core_criterion!r} is not one of {CRITERIA}")
    reference = filter_reference(seqs) if config.core_criterion == "worst_family" else None
    seqs = [replace(s, acc=np.ascontiguousarray(s.acc), gyr=np.ascontiguousarray(s.gyr)) for s in seqs]
    sas = [np.ones(len(s)) for s in seqs] if sigma_a is None else sigma_a

    def err_of(choice: dict, aggregate: str = "max") -> float:
        return _core_error(params_of(choice), seqs, sas, reference, aggregate)

    def bounded(c: float, f: float, t: float, sg: float) -> tuple[str, dict]:
        return (f"bounded c={c} floor={f} tau={t} sigma_a={sg}",
                {"hypotheses": [(c, t)], "gate_s": 10.0, "gate_z": 2.0, "floor": f, "fixed_sigma_a": sg, "gate": {},
                 "gyro_noise_s": config.gyro_noise_s, "vel_cap": [0.0, *config.vel_cap[1:]]})

    def loose(tau2: float, c2: float, gate_s: float, gate_z: float) -> tuple[str, dict]:
        gate = {"c_mult": c2, "tau": tau2, "gate_s": gate_s, "gate_z": gate_z}
        return (f"+ loose (c x{c2}, tau={tau2}), gate T={gate_s} z0={gate_z}",
                {**one, "hypotheses": [one["hypotheses"][0], (one["hypotheses"][0][0] * c2, tau2)],
                 "gate_s": gate_s, "gate_z": gate_z, "gate": gate})

    def stiff(c3: float, f3: float, t3: float, z3: float) -> tuple[str, dict]:
        return (f"+ stiff (c={c3}, floor={f3}, tau={t3}, z0={z3})",
                {**two, "hypotheses": [(c3, t3, f3, z3), *two["hypotheses"]],
                 "stiff": {"c": c3, "floor": f3, "tau": t3, "gate_z": z3}})

    def accel_floor(k: float, window: float) -> tuple[str, dict]:
        return f"+ accel floor (k={k}, {window} s)", {**three, "accel_floor": k, "accel_floor_s": window}

    first = ([(1.0,), config.floor_grid, config.tau_grid, config.sigma_grid] if sigma_a is None
             else [config.c_grid, config.floor_grid, config.tau_grid, (-1.0,)])
    finals: list[dict] = []
    seen: list[dict] = []
    for start in config.core_starts if reference is not None else ("max",):
        one = _search(bounded, first, None, lambda ch, a=start: err_of(ch, a), log)
        choice = {k: v for k, v in one.items() if k != "val_score"}
        if choice in seen:  # the same first choice as an earlier start: the same path
            continue
        seen.append(choice)
        if start != "max":  # scored by another aggregate in the first stage: rescore by the worst family
            one = {**one, "val_score": err_of(one)}
        two = _search(loose, [config.slow_tau_grid, config.slow_c_grid, config.gate_s_grid, config.gate_z_grid],
                      one, err_of, log)
        three = _search(stiff, [config.stiff_c_grid, config.stiff_floor_grid, config.stiff_tau_grid,
                                config.stiff_z_grid], two, err_of, log)
        best = _search(accel_floor, [config.accel_floor_grid, config.accel_floor_s_grid], three, err_of, log)
        if reference is not None:
            best = _fourth(config, best, lambda ch: _family_ratios(_log_errors(params_of(ch), seqs, sas), seqs,
                                                                    reference), log)
        finals.append({**best, "start": start, "without_accel_floor_val_score": three["val_score"],
                       "single_hypothesis_val_score": one["val_score"], "without_stiff_val_score": two["val_score"]})
    best = min(finals, key=lambda c: c["val_score"])  # the first start wins a tie
    # the velocity cap is switched on after a search run without it, so it cannot change the members: on
    # during the search it cost the stiff one its place (benchmarks/imu_rule_checks.py vel_cap, result 1)
    best = {**best, "vel_cap": list(config.vel_cap), "without_vel_cap_val_score": best["val_score"]}
    best["val_score"] = err_of(best)
    best["start_val_scores"] = {c["start"]: c["val_score"] for c in finals}
    best["criterion"] = config.core_criterion  # what ``val_score`` is: degrees (geomean) or a ratio (worst_family)
    return best


def params_of(choice: dict) -> np.ndarray:
    return core_params([tuple(h) for h in choice["hypotheses"]], choice["gate_s"], choice["floor"],
                       fixed_sigma_a=choice["fixed_sigma_a"], gate_z=choice["gate_z"],
                       accel_floor=choice.get("accel_floor", 0.0), accel_floor_s=choice.get("accel_floor_s", 0.5),
                       gyro_noise_s=choice.get("gyro_noise_s", 0.0),
                       vel_cap=tuple(choice.get("vel_cap", (0.0, 5.0, 5.0, 1e9))))


def load_or_train(config: TrainConfig = TrainConfig(), cache_dir: Path = CACHE_DIR,  # noqa: B008 - frozen
                  progress: Callable[[dict], None] | None = None, retrain: bool = False,
                  ) -> tuple[AttitudeModel, AttitudeModel, dict]:
    """``(model, core-only model, meta)`` for ``config``: from the cache when its key matches, else trained."""
    key = config.key()
    path = Path(cache_dir) / f"attitude-{key}.npz"
    core_path = path.with_name(f"attitude-{key}-core-only.npz")
    meta_path = path.with_suffix(".json")
    for names in ((path.name, core_path.name, meta_path.name), tuple(f"net-{config.net().key()}.{e}" for e in ("npz", "json"))):
        retrain or fetch(cache_dir, names)  # the committed copy of what this code would train (cache_seed)
    if path.is_file() and core_path.is_file() and meta_path.is_file() and not retrain:
        return AttitudeModel.load(path), AttitudeModel.load(core_path), json.loads(meta_path.read_text())
    arrays, net_meta = load_or_train_network(config.net(), Path(cache_dir), progress, retrain)
    val = validation(config)
    base = AttitudeModel.from_arrays(arrays, core_params([(1.0, 0.3)], 10.0, 0.05))
    sigma_a = [np.exp(base.log_sigma_a(s.acc, s.gyr, s.rate_hz)) for s in val]
    core = tune_core(config, val, sigma_a)
    core_only = tune_core(config, val, None)
    info = {"families": list(config.families), "key": key, "net_key": net_meta["net_key"], "core": core,
            "core_only": core_only, "steps": config.steps, "selected_step": net_meta["selected_step"]}
    model = base.with_core(params_of(core))
    model.info = info
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    model.save(path)
    AttitudeModel(model.weights, model.dims, params_of(core_only), {**info, "ablation": "core only"}).save(core_path)
    meta = {**info, "config": asdict(config), "validation_curve": net_meta["validation_curve"], "weights": str(path)}
    atomic_write_bytes(meta_path, json.dumps(meta, indent=1, default=str).encode())
    return model, AttitudeModel.load(core_path), meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    config = TrainConfig(families=tuple(args.families.split(",")), steps=args.steps)

    def show(rec: dict) -> None:
        if "val_loss" in rec:
            print(f"step {rec['step']:4d}  validation loss {rec['val_loss']:.4f}", flush=True)

    _, _, meta = load_or_train(config, progress=show, retrain=args.retrain)
    print(f"weights: {meta['weights']}\ncore: {meta['core']}\ncore only: {meta['core_only']}")


if __name__ == "__main__":
    main()
