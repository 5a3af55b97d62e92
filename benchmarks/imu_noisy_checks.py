"""``imu_rule_checks.py noisy`` and ``noisy_floor`` (networks trained with a share of noisier sensors) and
``foreign`` (the in-family model on the independent generator's validation seeds).

Run through ``benchmarks/imu_rule_checks.py``; the rules and results are in ``docs/imu_rule_checks.md``.
The test split is never read.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from imu_rule_checks import CHECK_CACHE, _held_and_ref, _named, _ratios

import neuroedge.imu.train as train
from neuroedge.imu.evaluate import score_model
from neuroedge.imu.families import random_sensor

NOISY = {"share": 0.3, "accel": (0.004, 0.016), "gyro": (0.02, 0.8)}  # m/s²/√Hz and °/s/√Hz, log-uniform


def _noisy_sensor(rng: np.random.Generator) -> dict:
    """The training draw (``random_sensor``, unchanged), then from the same stream: for a share of the
    sequences a noisier sensor than a consumer part's datasheet (``ahrs.Sensors``' defaults are inside)."""
    sensor = random_sensor(rng)
    if rng.random() < NOISY["share"]:
        sensor["accel_noise_rthz"] = float(np.exp(rng.uniform(*np.log(NOISY["accel"]))))
        sensor["gyro_noise_dps_rthz"] = float(np.exp(rng.uniform(*np.log(NOISY["gyro"]))))
    return sensor


def _noisy_model(config: train.TrainConfig) -> tuple[object, dict]:
    """The network trained with ``_noisy_sensor`` (cached in the check's folder) and its core, as ``load_or_train``."""
    import neuroedge.imu.learn as learn

    learn.random_sensor = _noisy_sensor  # looked up at call time by ``train_network``
    try:
        model, _, meta = train.load_or_train(config, cache_dir=CHECK_CACHE / "noisy")
    finally:
        learn.random_sensor = random_sensor
    return model, meta


def foreign_validation() -> dict[str, list]:
    """The independent generator's validation recordings (seeds 1000-1005), per kind."""
    from imu_foreign import KINDS, recording

    return {k: [recording(1000 + i, k) for i in range(6)] for k in KINDS}


def _foreign_line(label: str, *models: object) -> str:
    """The models' errors on the independent generator's validation seeds (1000-1005), ``a/b`` per kind."""
    seqs = foreign_validation()
    return f" independent generator validation, {label}:" + "".join(
        f" {k} " + "/".join(f"{score_model(m, s)['tilt_deg']:.3f}" for m in models) for k, s in seqs.items())


def foreign() -> None:
    """The in-family model as the package trains it now (cached) on the independent generator's validation seeds."""
    t = time.time()
    print(_foreign_line("in-family model", train.load_or_train(train.TrainConfig())[0]) + f" | {time.time() - t:.0f} s")


def noisy(names: list[str]) -> None:
    """The shipped networks against ones trained with ``_noisy_sensor`` (validation and cores unchanged)."""
    for name in names:
        t = time.time()
        config, scored = _named(name)
        held, ref = _held_and_ref(scored)
        shipped, _, meta0 = train.load_or_train(config)
        variant, meta1 = _noisy_model(config)
        line = (f"{name}: own {meta0['core']['val_score']:.4f} / {meta1['core']['val_score']:.4f} |"
                + _ratios("shipped", shipped, held, ref) + _ratios("noisy", variant, held, ref))
        print(line + (_foreign_line("shipped / noisy", shipped, variant) if name == "all" else "")
              + f" | {time.time() - t:.0f} s", flush=True)


def _with_floor(config: train.TrainConfig, model: object, core: dict) -> tuple[object, str]:
    """``core`` with the accel floor kept whatever the search said: the best of its grid by the committed
    criterion on the core's own validation (the velocity cap on, as shipped), if the search left it out."""
    if core.get("accel_floor", 0.0) > 0:
        return model, f"floor k={core['accel_floor']} kept by the search"
    val = [replace(s, acc=np.ascontiguousarray(s.acc), gyr=np.ascontiguousarray(s.gyr)) for s in train.validation(config)]
    sigma = [np.exp(model.log_sigma_a(s.acc, s.gyr, s.rate_hz)) for s in val]
    reference = train.filter_reference(val)
    grid = [(k, w) for k in config.accel_floor_grid for w in config.accel_floor_s_grid]
    cps = [train.params_of({**core, "accel_floor": k, "accel_floor_s": w}) for k, w in grid]
    best = int(np.argmin([train._core_error(cp, val, sigma, reference, "max") for cp in cps]))
    return model.with_core(cps[best]), f"floor k={grid[best][0]} {grid[best][1]} s"


def noisy_floor(names: list[str]) -> None:
    """``noisy``'s networks (cached) with the accel floor kept as physics (``_with_floor``)."""
    for name in names:
        t = time.time()
        config, scored = _named(name)
        held, ref = _held_and_ref(scored)
        shipped = train.load_or_train(config)[0]
        variant, meta = _noisy_model(config)
        floored, how = _with_floor(config, variant, meta["core"])
        line = f"{name}: {how} |" + _ratios("shipped", shipped, held, ref) + _ratios("noisy, floor", floored, held, ref)
        print(line + (_foreign_line("shipped / noisy with the floor", shipped, floored) if name == "all" else "")
              + f" | {time.time() - t:.0f} s", flush=True)
