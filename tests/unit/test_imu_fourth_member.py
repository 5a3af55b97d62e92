"""The core's fourth member (``TrainConfig.fourth_*``, stage (e) of ``neuroedge.imu.train.tune_core``): the bank
takes four members, and the stage keeps one by its rule (docs/imu_rule_checks.md, fourth_member)."""

from __future__ import annotations

import numpy as np

from neuroedge.imu.core import core_params, core_scan
from neuroedge.imu.families import ImuConfig, generate
from neuroedge.imu.train import TrainConfig, _fourth


def test_a_fourth_member_whose_gate_is_always_open_leaves_the_three_member_bank() -> None:
    """Members never exchange state, and the output is blended from the loosest inwards, so a member that
    always gives way changes nothing: four members equal the three to rounding."""
    seq = generate(12, ImuConfig(family="handheld", duration_s=20.0, rate_hz=100.0))

    def scan(hyps):  # noqa: ANN001, ANN202
        cp = core_params(hyps, 1.0, 0.02, gate_z=1.0, accel_floor=1.0, vel_cap=(1.5, 5.0, 5.0, 0.0))
        return core_scan(seq.acc, seq.gyr, np.full(len(seq), 0.5), seq.rate_hz, cp)

    stiff, bounded, loose = (0.1, 0.3, 0.03, 1.0), (1.0, 2.4), (3.0, 200.0)
    three = scan([stiff, bounded, loose])
    np.testing.assert_allclose(scan([stiff, (0.25, 0.6, 0.01, 1e-12), bounded, loose])[1:], three[1:], atol=1e-9)
    assert not np.allclose(scan([stiff, (0.25, 0.6, 0.01, 1.0), bounded, loose]), three, atol=1e-3)


def _stage(table: dict[tuple, list[float]], base: list[float]) -> dict:
    """``_fourth`` with the family ratios looked up by the member it adds (``base`` for the incumbent)."""
    config = TrainConfig(fourth_c_grid=(0.25, 0.5), fourth_tau_grid=(0.6,), fourth_floor_grid=(0.01,),
                         fourth_z_grid=(1.0,))
    incumbent = {"hypotheses": [(0.1, 0.3, 0.03, 1.0), (1.0, 2.4), (3.0, 200.0)], "val_score": max(base)}

    def ratios_of(choice: dict) -> np.ndarray:
        if len(choice["hypotheses"]) == 3:
            return np.array(base)
        return np.array(table[choice["hypotheses"][1]])

    return _fourth(config, incumbent, ratios_of, None)


def test_the_stage_keeps_the_lowest_median_within_the_worst_family_tolerance() -> None:
    base = [0.47, 0.75, 0.59, 0.27, 0.62]  # worst 0.75, median 0.59
    within = [0.49, 0.78, 0.59, 0.32, 0.49]  # worst +0.03 (within 0.0375), median 0.49
    beyond = [0.45, 0.80, 0.58, 0.30, 0.40]  # median 0.45 but worst +0.05
    got = _stage({(0.25, 0.6, 0.01, 1.0): within, (0.5, 0.6, 0.01, 1.0): beyond}, base)
    assert got["hypotheses"][1] == (0.25, 0.6, 0.01, 1.0) and len(got["hypotheses"]) == 4
    assert got["val_score"] == 0.78 and got["val_median"] == 0.49 and got["without_fourth_median"] == 0.59
    got = _stage({(0.25, 0.6, 0.01, 1.0): beyond, (0.5, 0.6, 0.01, 1.0): [0.5, 0.7, 0.6, 0.3, 0.65]}, base)
    assert len(got["hypotheses"]) == 3 and got["val_score"] == 0.75  # none lowers the median within tolerance
