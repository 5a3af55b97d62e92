"""The classical filters agree with the ground truth on clean data, and tuning picks the best grid point."""

from __future__ import annotations

from dataclasses import replace

import pytest

from neuroedge.imu.baselines import BASELINES, Baseline, evaluate, tune
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


def test_tune_returns_the_grid_minimum() -> None:
    seq = generate(13, replace(CLEAN, disturbance_std=2.0, duration_s=10.0))
    grid = {"tau_acc": [0.3, 3.0, 30.0]}
    params, err = tune(Baseline("vqf", BASELINES["vqf"].run, {"tau_acc": 3.0}, grid), [seq])
    errors = {t: evaluate(BASELINES["vqf"].run, [seq], {"tau_acc": t})["tilt_deg"] for t in grid["tau_acc"]}
    assert params == {"tau_acc": min(errors, key=errors.get)}
    assert err == pytest.approx(min(errors.values()))
