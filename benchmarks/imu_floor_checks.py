"""``imu_rule_checks.py floor_share`` and ``floor_walking``: the core fed the network's ``σ_a`` less a share of
the training target's floor, on validation only.

The network learns ``log(σ_a + TARGET_FLOOR)`` (``neuroedge.imu.learn``), and the core is fed its exp, so a
sensor with no linear acceleration is told about ``TARGET_FLOOR`` at best. Here the core is fed
``max(exp(log σ_a) − share · TARGET_FLOOR, SIGMA_A_MIN)`` instead, through ``core_scan``: the network is the
shipped one (cached), the core chosen again for the new ``σ_a`` by the committed rule
(``neuroedge.imu.train.tune_core``), and both scored as the other checks score (on each scored family's
validation split, the ratio of the mean tilt error to its best tuned filter's; for ``all``, also the
independent generator's validation seeds 1000-1005). Since the ``floor_share 0.25`` rule kept a quarter, the
core takes ``NET_FLOOR_OFF`` off by itself (``neuroedge.imu.core``); ``share`` here is the whole share, so
what is fed is the network's figure less the rest (the checks of 2026-12-04 ran before the core did that).

``floor_walking SHARE`` takes the in-family model apart on the independent generator's ``walking``
validation seeds: the shipped core and the core chosen for the share, each fed the shipped ``σ_a`` and the
share's, per seed. The rules and results: ``docs/imu_rule_checks.md``. The test split is never read.
"""

from __future__ import annotations

import time

import numpy as np
from imu_rule_checks import _held_and_ref, _named

import neuroedge.imu.train as train
from neuroedge.imu.core import NET_FLOOR_OFF, core_scan
from neuroedge.imu.evaluate import score_run
from neuroedge.imu.families import ImuSequence
from neuroedge.imu.fast import AttitudeModel
from neuroedge.imu.learn import TARGET_FLOOR


def _network_sigma(model: AttitudeModel, seq: ImuSequence) -> np.ndarray:
    return np.exp(model.log_sigma_a(np.ascontiguousarray(seq.acc), np.ascontiguousarray(seq.gyr), seq.rate_hz))


def _sigma(model: AttitudeModel, seq: ImuSequence, share: float) -> np.ndarray:
    """What to feed ``core_scan`` so that the core, after its own ``NET_FLOOR_OFF`` and its clamp at
    ``SIGMA_A_MIN``, uses ``max(exp(log σ_a) − share · TARGET_FLOOR, SIGMA_A_MIN)``."""
    return _network_sigma(model, seq) - (share * TARGET_FLOOR - NET_FLOOR_OFF)


def _run(model: AttitudeModel, cp: np.ndarray, share: float):  # noqa: ANN202 - score_run's callable
    return lambda s: core_scan(np.ascontiguousarray(s.acc), np.ascontiguousarray(s.gyr), _sigma(model, s, share),
                               s.rate_hz, cp)


def _core_for(config: train.TrainConfig, model: AttitudeModel, share: float) -> dict:
    val = train.validation(config)
    return train.tune_core(config, val, [_sigma(model, s, share) for s in val])


def _members(core: dict) -> str:
    return (f"members {core['hypotheses']} floor {core['floor']} gate T {core['gate_s']} z {core['gate_z']} "
            f"accel floor {core.get('accel_floor', 0.0)}/{core.get('accel_floor_s', 0.0)}")


def floor_share(share: float, names: list[str]) -> None:
    for name in names:
        t = time.time()
        config, scored = _named(name)
        model, _, meta = train.load_or_train(config)
        core = _core_for(config, model, share)
        cp = train.params_of(core)
        held, ref = _held_and_ref(scored)
        ratios = [score_run(_run(model, cp, share), held[f])["tilt_deg"] / ref[f] for f in held]
        line = (f"{name}: share {share}: own {meta['core']['val_score']:.4f} / {core['val_score']:.4f} | ratios "
                + " ".join(f"{r:.3f}" for r in ratios) + f" median {float(np.median(ratios)):.3f} | "
                + f"shipped {_members(meta['core'])} | share's {_members(core)}")
        if name == "all":
            from imu_noisy_checks import foreign_validation

            line += " | independent generator validation, shipped / share:" + "".join(
                f" {k} {score_run(_run(model, model.core, NET_FLOOR_OFF / TARGET_FLOOR), seqs)['tilt_deg']:.3f}"
                f"/{score_run(_run(model, cp, share), seqs)['tilt_deg']:.3f}"
                for k, seqs in foreign_validation().items())
        print(line + f" | {time.time() - t:.0f} s", flush=True)


def floor_walking(share: float) -> None:
    """Which part moves walking: the core chosen again, or the σ_a it is fed (in-family model, seeds 1000-1005)."""
    from imu_noisy_checks import foreign_validation

    t = time.time()
    config = train.TrainConfig()
    model, _, meta = train.load_or_train(config)
    cp_share = train.params_of(_core_for(config, model, share))
    seqs = foreign_validation()["walking"]
    for label, cp in (("shipped core", model.core), ("share's core", cp_share)):
        for fed in (NET_FLOOR_OFF / TARGET_FLOOR, share):
            r = score_run(_run(model, cp, fed), seqs)
            print(f"walking, {label}, fed share {fed}: mean {r['tilt_deg']:.3f} per seed "
                  f"{r['per_sequence_tilt_deg']}", flush=True)
    for s in seqs:
        sa = _network_sigma(model, s)
        print(f"seed σ_a (shipped): median {np.median(sa):.3f} p10 {np.percentile(sa, 10):.3f} "
              f"p90 {np.percentile(sa, 90):.3f}, rate {s.rate_hz}", flush=True)
    print(f"{time.time() - t:.0f} s")
