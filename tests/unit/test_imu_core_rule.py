"""The core rule's search: a grid, then (when asked) each option steps past its grid's edge while validation improves."""

from __future__ import annotations

from neuroedge.imu.train import EDGE_STEPS, _search

STEPS = 3


def _run(target: tuple[float, float], steps: int = STEPS) -> tuple[dict, list[tuple[float, float]]]:
    tried: list[tuple[float, float]] = []

    def make(a: float, b: float) -> tuple[str, dict]:
        tried.append((a, b))
        return f"{a},{b}", {"a": a, "b": b}

    def err(choice: dict) -> float:  # a bowl around ``target`` in log space
        return abs(choice["a"] / target[0] - 1) + abs(choice["b"] / target[1] - 1)

    return _search(make, [(1.0, 2.0, 4.0), (0.25, 0.5, 1.0)], None, err, None, steps), tried


def test_inside_the_grid_nothing_more_is_tried() -> None:
    best, tried = _run((2.0, 0.5))
    assert (best["a"], best["b"]) == (2.0, 0.5) and len(tried) == 9


def test_past_the_top_edge_it_steps_while_the_error_falls_and_stops_when_it_rises() -> None:
    best, tried = _run((16.0, 0.5))
    assert (best["a"], best["b"]) == (16.0, 0.5)
    assert tried[9:] == [(8.0, 0.5), (16.0, 0.5), (32.0, 0.5)]  # 32 is worse: it stops there


def test_past_the_bottom_edge_by_the_grid_ratio_at_that_end_at_most_edge_steps() -> None:
    best, tried = _run((2.0, 0.001))
    assert best["a"] == 2.0 and best["b"] == 0.25 * 0.5 ** STEPS
    assert len(tried) == 9 + STEPS


def test_a_stage_that_does_not_beat_the_previous_best_keeps_it() -> None:
    previous = {"val_score": -1.0}

    def make(a: float) -> tuple[str, dict]:
        return "x", {"a": a}

    assert _search(make, [(1.0, 2.0)], previous, lambda c: 0.0, None) is previous


def test_the_core_rule_stops_at_its_grids() -> None:
    """EDGE_STEPS = 0, chosen on held-out families' validation (train.py's doc): the grid's best is kept."""
    best, tried = _run((16.0, 0.001), EDGE_STEPS)
    assert EDGE_STEPS == 0 and (best["a"], best["b"]) == (4.0, 0.25) and len(tried) == 9


def test_worst_family_criterion_is_the_largest_family_geometric_mean_of_ratios() -> None:
    """``worst_family``: per family the geometric mean of error / reference, the largest kept."""
    import numpy as np

    from neuroedge.imu.core import core_params
    from neuroedge.imu.families import generate_split
    from neuroedge.imu.train import _core_error

    seqs = generate_split("val", "handheld", 2, 8.0) + generate_split("val", "vehicle", 1, 8.0)
    sigma = [np.ones(len(s)) for s in seqs]
    cp = core_params([(1.0, 0.3)], 10.0, 0.05)
    errors = [_core_error(cp, [s], [sa]) for s, sa in zip(seqs, sigma, strict=True)]
    assert _core_error(cp, seqs, sigma) == np.exp(np.mean(np.log(errors)))
    assert abs(_core_error(cp, seqs, sigma, errors) - 1.0) < 1e-12
    halved_vehicle = [errors[0] / 3, errors[1] * 3, errors[2] / 2]  # handheld's geometric mean stays 1
    assert abs(_core_error(cp, seqs, sigma, halved_vehicle) - 2.0) < 1e-9


def test_filter_reference_is_the_best_tuned_filter_on_each_sequence(monkeypatch) -> None:  # noqa: ANN001
    """Each sequence's reference: its family's filter with the lowest validation error, at its tuned settings."""
    from neuroedge.imu import evaluate as ev
    from neuroedge.imu.baselines import BASELINES, evaluate
    from neuroedge.imu.families import generate_split
    from neuroedge.imu.train import filter_reference

    tunings = {"handheld": {"madgwick": {"params": {"gain": 0.02}, "val_tilt_deg": 1.0},
                            "mahony": {"params": BASELINES["mahony"].defaults, "val_tilt_deg": 2.0}},
               "vehicle": {"madgwick": {"params": {"gain": 0.02}, "val_tilt_deg": 3.0},
                           "mahony": {"params": BASELINES["mahony"].defaults, "val_tilt_deg": 2.0}}}
    monkeypatch.setattr(ev, "load_or_tune_filters", lambda family, *args, **kw: tunings[family])
    seqs = generate_split("val", "handheld", 1, 8.0) + generate_split("val", "vehicle", 1, 8.0)
    expected = [evaluate(BASELINES["madgwick"].run, seqs[:1], {"gain": 0.02})["tilt_deg"],
                evaluate(BASELINES["mahony"].run, seqs[1:], BASELINES["mahony"].defaults)["tilt_deg"]]
    assert filter_reference(seqs) == expected


def test_every_start_runs_the_whole_search_and_the_lowest_worst_family_wins(monkeypatch) -> None:  # noqa: ANN001
    """``core_starts`` (checked, not committed: ``benchmarks/imu_rule_checks.py starts``): the first stage
    chosen by each aggregate of the family ratios, the rest of the search from each; the final choice is the
    lowest worst family, so never worse on the training families than the worst-family start alone."""
    from dataclasses import replace

    import numpy as np

    from neuroedge.imu import train
    from neuroedge.imu.families import generate_split

    monkeypatch.setattr(train, "filter_reference", lambda seqs: [1.0] * len(seqs))  # ratios are the errors
    seqs = [s for f in ("handheld", "random_walk", "impacts") for s in generate_split("val", f, 1, 8.0)]
    sigma = [np.full(len(s), 1.5) for s in seqs]
    cfg = train.TrainConfig(c_grid=(0.5, 4.0), floor_grid=(0.1,), tau_grid=(0.3, 2.4), slow_tau_grid=(200.0,),
                            slow_c_grid=(10.0,), gate_s_grid=(3.0,), gate_z_grid=(1.0,), stiff_c_grid=(0.1,),
                            stiff_floor_grid=(0.03,), stiff_tau_grid=(0.3,), stiff_z_grid=(1.0,),
                            accel_floor_grid=(1.0,), accel_floor_s_grid=(0.5,),
                            vel_cap=(0.0, 5.0, 5.0, 1e9))  # the cap off: these sequences were picked for the starts without it
    every = train.tune_core(replace(cfg, core_starts=("max", "median", "gmean")), seqs, sigma)
    alone = train.tune_core(cfg, seqs, sigma)  # the committed rule: the worst family alone
    assert len(every["start_val_scores"]) >= 2  # on these sequences the starts choose different first filters
    assert every["val_score"] == min(every["start_val_scores"].values()) < alone["val_score"]
    assert every["start_val_scores"]["max"] == alone["val_score"] and list(alone["start_val_scores"]) == ["max"]
    again = train._core_error(train.params_of(every), seqs, sigma, [1.0] * len(seqs))
    assert abs(again - every["val_score"]) < 1e-12
