"""``neuroedge imu adapt``: the core fitted to a user's recordings, checked on recordings it did not see.

The recordings come from another project's simulator (``ahrs.Sensors`` at its default noise: a gyro far
noisier than the consumer parts the model was trained for), so nothing here is shaped by our generator.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroedge.imu.adapt import AdaptError, adapt, choose, fit_local, tunable
from neuroedge.imu.ahrs_sensors import ahrs_recording
from neuroedge.imu.families import ImuSequence
from neuroedge.imu.fast import AttitudeModel
from neuroedge.imu.recording import save_csv
from neuroedge.imu.train import tilt_deg

RATE, SECONDS = 100.0, 20.0


def _sensors(seed: int) -> ImuSequence:
    return ahrs_recording(int(RATE * SECONDS), RATE, np.random.default_rng(seed), {"seed": seed})


@pytest.fixture(scope="module")
def recordings() -> list[ImuSequence]:
    return [_sensors(seed) for seed in (11, 12, 13, 14)]


def _gmean_error(model: AttitudeModel, seqs: list[ImuSequence]) -> float:
    errs = [tilt_deg(model.run(s.acc, s.gyr, s.rate_hz), s) for s in seqs]
    return math.exp(float(np.mean(np.log(errs))))


def test_adapting_lowers_the_error_on_recordings_the_fit_did_not_see(recordings: list[ImuSequence]) -> None:
    shipped = AttitudeModel.load()
    result = adapt(shipped, recordings[:2], methods=("shipped", "local"))
    assert set(result.cv_deg) == {"shipped", "local"}
    assert result.method == "local"  # this simulator's gyro is ~50x noisier than the datasheet figure
    assert result.adapted_deg < result.shipped_deg
    before, after = _gmean_error(shipped, recordings[2:]), _gmean_error(result.model, recordings[2:])
    assert after < 0.8 * before, (before, after)


def test_choose_keeps_the_simpler_candidate_unless_the_gain_beats_its_standard_error() -> None:
    # fast's case: the grid lower by 0.25% on average, recording by recording either way
    shipped = [1.00, 1.20, 0.90, 1.10, 1.05, 0.95]
    grid = [s + d for s, d in zip(shipped, (-0.05, 0.04, -0.03, 0.05, -0.06, 0.035), strict=True)]
    assert sum(grid) < sum(shipped)
    assert choose({"shipped": shipped, "grid": grid}) == "shipped"
    # the same mean gain on every recording: no longer noise
    assert choose({"shipped": shipped, "grid": [s - 0.0025 for s in shipped]}) == "grid"
    # local lowest, grid within one standard error of it: the grid (fewer choices) wins
    lower = [s - 0.3 for s in shipped]
    local = [v + d for v, d in zip(lower, (-0.03, 0.02, -0.02, 0.025, -0.03, 0.03), strict=True)]
    assert sum(local) < sum(lower)
    assert choose({"shipped": shipped, "grid": lower, "local": local}) == "grid"
    assert choose({"shipped": shipped, "local": local}) == "local"
    assert choose({"shipped": shipped}) == "shipped"


def test_the_local_search_keeps_the_core_layout_and_never_ends_worse(recordings: list[ImuSequence]) -> None:
    from neuroedge.imu.adapt import _Data

    shipped = AttitudeModel.load()
    data = _Data.of(shipped, recordings[:1])
    cp, changes = fit_local(shipped.core, data)
    assert cp.shape == shipped.core.shape and cp[0] == shipped.core[0]  # the same members
    assert data.error(cp) <= data.error(shipped.core)
    names = set(tunable(shipped.core).values())
    assert set(changes) <= names and changes
    untouched = [i for i in range(cp.size) if i not in tunable(shipped.core)]
    assert np.array_equal(cp[untouched], shipped.core[untouched])  # switches and counts as shipped


def test_what_cannot_be_adapted_on_is_refused_naming_the_file(recordings: list[ImuSequence]) -> None:
    from dataclasses import replace

    model = AttitudeModel.load()
    r = recordings[0]
    with pytest.raises(AdaptError, match="a.csv is 15.0 s long: adapting needs at least two"):
        adapt(model, [replace(r, t=r.t[:1500], acc=r.acc[:1500], gyr=r.gyr[:1500], q=r.q[:1500])], ["a.csv"])
    with pytest.raises(AdaptError, match="b.csv: no reference columns"):
        adapt(model, [recordings[0], replace(recordings[1], q=None)], ["a.csv", "b.csv"])
    short = replace(recordings[1], t=recordings[1].t[:500], acc=recordings[1].acc[:500],
                    gyr=recordings[1].gyr[:500], q=recordings[1].q[:500])
    with pytest.raises(AdaptError, match=r"b.csv: 5.0 s long; adapting needs at least 10 s"):
        adapt(model, [recordings[0], short], ["a.csv", "b.csv"])


def test_one_long_recording_is_cut_in_two(recordings: list[ImuSequence]) -> None:
    s = recordings[0]
    long = ImuSequence(np.concatenate([s.t, s.t + SECONDS]), np.concatenate([s.acc, recordings[1].acc]),
                       np.concatenate([s.gyr, recordings[1].gyr]), np.concatenate([s.q, recordings[1].q]), RATE, {})
    result = adapt(AttitudeModel.load(), [long], ["long.csv"], methods=("shipped",))
    assert result.model.info["adapted"]["recordings"] == ["long.csv (first half)", "long.csv (second half)"]
    assert result.method == "shipped" and result.adapted_deg == result.shipped_deg


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuroedge.cli", "imu", *args], capture_output=True, text=True,
                          timeout=600)


def test_cli_adapts_saves_a_model_run_accepts_and_refuses_to_overwrite(recordings: list[ImuSequence],
                                                                       tmp_path: Path) -> None:
    csvs = [save_csv(s, tmp_path / f"rec{i}.csv") for i, s in enumerate(recordings[:3])]
    out = tmp_path / "adapted.npz"
    done = _cli("adapt", str(csvs[0]), str(csvs[1]), "-o", str(out), "--check", str(csvs[2]))
    assert done.returncode == 0, done.stderr
    assert "chosen by cross-validation" in done.stdout and "adapted model" in done.stdout
    model = AttitudeModel.load(out)
    assert model.info["adapted"]["recordings"] == [str(csvs[0]), str(csvs[1])]
    quats = tmp_path / "q.csv"
    ran = _cli("run", str(csvs[2]), "-o", str(quats), "--model", str(out))
    assert ran.returncode == 0, ran.stderr
    q = np.loadtxt(quats, delimiter=",", skiprows=1)[:, 1:]
    s = recordings[2]
    assert np.allclose(q, model.run(s.acc, s.gyr, s.rate_hz), atol=1e-6)
    stamp = out.read_bytes()
    again = _cli("adapt", str(csvs[0]), str(csvs[1]), "-o", str(out))
    assert again.returncode != 0 and "exists; pass --force" in again.stderr and "Traceback" not in again.stderr
    assert out.read_bytes() == stamp
    same = _cli("adapt", str(csvs[0]), str(csvs[1]), "-o", str(tmp_path / "x.npz"), "--check", str(csvs[1]))
    assert same.returncode != 0 and "also an adaptation recording" in same.stderr
