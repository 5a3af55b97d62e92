"""The classical filters agree with the ground truth on clean data, and tuning picks the best grid point."""

from __future__ import annotations

from dataclasses import replace

import pytest

from neuroedge.imu.baselines import (
    BASELINES,
    Baseline,
    at_edge,
    evaluate,
    run_ekf,
    run_madgwick,
    run_mahony,
    tune,
)
from neuroedge.imu.families import ImuConfig, generate

CLEAN = replace(ImuConfig(duration_s=8.0, rate_hz=100.0), disturbance_std=0.0, gyro_bias_dps=0.0,
                gyro_bias_walk_dps_rts=0.0)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_filter_tracks_clean_motion_with_default_parameters(name: str) -> None:
    """Frames and units are right for every library (a wrong frame gives tens of degrees, or 180)."""
    seq = generate(11, CLEAN)
    result = evaluate(BASELINES[name].run, [seq], BASELINES[name].defaults)
    assert result["tilt_deg"] < 1.0, f"{name}: {result}"
    assert result["us_per_sample"] > 0


def test_disturbance_hurts_filters() -> None:
    """On disturbed data the filters are far from perfect: the benchmark is not a clean-data one."""
    seq = generate(12, replace(CLEAN, disturbance_std=2.0))
    assert evaluate(BASELINES["vqf"].run, [seq], {"tau_acc": 3.0})["tilt_deg"] > 0.5


def test_tune_returns_the_minimum_of_all_it_tried_and_steps_past_an_edge() -> None:
    seq = generate(13, replace(CLEAN, disturbance_std=2.0, duration_s=10.0))
    grid = {"tau_acc": [0.01, 0.02, 0.04]}  # far too short for 2 m/s² of linear acceleration
    params, err, tried = tune(Baseline("vqf", BASELINES["vqf"].run, {"tau_acc": 3.0}, grid), [seq])
    assert tried["tau_acc"][:3] == grid["tau_acc"] and max(tried["tau_acc"]) > 0.04  # it went on past 0.04
    errors = {t: evaluate(BASELINES["vqf"].run, [seq], {"tau_acc": t})["tilt_deg"] for t in tried["tau_acc"]}
    assert params == {"tau_acc": min(errors, key=errors.get)} and params["tau_acc"] > 0.04
    assert err == pytest.approx(min(errors.values()))
    assert at_edge(params, tried) == ([] if params["tau_acc"] < max(tried["tau_acc"]) else ["tau_acc"])


def test_compiled_filters_equal_ahrs() -> None:
    """The compiled Madgwick, Mahony and EKF are ahrs' own updates (disturbed data, off-default settings)."""
    import numpy as np
    from ahrs.filters import EKF, Madgwick, Mahony

    from neuroedge.imu.baselines import _q0

    seq = generate(14, replace(CLEAN, disturbance_std=2.0, gyro_bias_dps=0.5, duration_s=3.0))
    q0, rate = _q0(seq), seq.rate_hz
    pairs = [(run_madgwick(seq, gain=0.02), Madgwick(gyr=seq.gyr, acc=seq.acc, frequency=rate, gain=0.02, q0=q0).Q),
             (run_mahony(seq, k_P=0.3, k_I=0.05),
              Mahony(gyr=seq.gyr, acc=seq.acc, frequency=rate, k_P=0.3, k_I=0.05, q0=q0).Q),
             (run_ekf(seq, var_acc=2.0, var_gyr=0.01),
              EKF(gyr=seq.gyr, acc=seq.acc, frequency=rate, frame="NED", q0=q0, noises=[0.01, 2.0, 0.64]).Q)]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_redundant_grid_points_are_skipped_and_edges_reported() -> None:
    seq = generate(15, replace(CLEAN, disturbance_std=2.0, duration_s=8.0))
    seen = []

    def run(s, a: float, b: int):  # noqa: ANN001, ANN202
        seen.append((a, b))
        return BASELINES["vqf"].run(s, tau_acc=a)

    base = Baseline("x", run, {}, {"a": [1.0, 3.0, 10.0], "b": [0, 1]}, lambda p: p["b"] == 1 and p["a"] > 1.0)
    params, _, tried = tune(base, [seq], max_steps=0)
    assert sorted(seen) == [(1.0, 0), (1.0, 1), (3.0, 0), (10.0, 0)]
    assert at_edge(params, tried) == ([] if params["a"] == 3.0 else ["a"])
