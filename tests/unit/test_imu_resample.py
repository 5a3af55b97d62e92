"""Uneven timestamps (a logger dropping samples, a phone's jittery clock): refused, or with ``--resample``
put on an even grid, scoring as the evenly sampled recording does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroedge.imu import quaternion as quat
from neuroedge.imu.baselines import score
from neuroedge.imu.families import ImuConfig, ImuSequence, generate
from neuroedge.imu.fast import AttitudeModel
from neuroedge.imu.recording import ImuDataError, load_csv, save_csv
from neuroedge.imu.resample import even_grid, note

RATE = 200.0


@pytest.fixture(scope="module")
def recording() -> ImuSequence:
    return generate(31, ImuConfig(duration_s=30.0, rate_hz=RATE))


def _uneven(seq: ImuSequence, path: Path, drop: np.ndarray, jitter: float = 0.08, flip_signs: bool = False) -> Path:
    """``seq`` as CSV with the rows ``drop`` left out and each timestamp off by ``jitter`` of a step (RMS)."""
    rng = np.random.default_rng(4)
    keep = np.ones(len(seq), bool)
    keep[drop] = False
    t = seq.t + rng.normal(0.0, jitter / seq.rate_hz, len(seq))
    q = seq.q * np.where(np.arange(len(seq)) % 2, -1.0, 1.0)[:, None] if flip_signs else seq.q
    rows = np.column_stack([t, seq.acc, seq.gyr, q])[keep]
    np.savetxt(path, rows, delimiter=",", header="t,ax,ay,az,gx,gy,gz,qw,qx,qy,qz", comments="", fmt="%.10f")
    return path


def test_dropped_samples_are_refused_or_evened_out(recording: ImuSequence, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    drop = np.concatenate([rng.choice(np.arange(10, 5990), 30, replace=False), np.arange(3000, 3008)])
    path = _uneven(recording, tmp_path / "phone.csv", drop)
    with pytest.raises(ImuDataError, match=r"phone\.csv: column 't': .*gap\(s\).*pass --resample"):
        load_csv(path)
    seq = load_csv(path, resample=True)
    assert seq.rate_hz == pytest.approx(RATE, rel=2e-4)
    assert np.allclose(np.diff(seq.t), 1.0 / seq.rate_hz) and len(seq) == pytest.approx(len(recording), abs=2)
    (said,) = note(seq, "phone.csv", resampled=True)
    assert f"resampled {len(recording) - drop.size} rows onto {len(seq)}" in said
    model = AttitudeModel.load()
    even = score(model.run(recording.acc, recording.gyr, RATE), recording)["tilt_deg"]
    evened = score(model.run(seq.acc, seq.gyr, seq.rate_hz), seq)["tilt_deg"]
    assert evened == pytest.approx(even, rel=0.05)


def test_a_gap_too_long_to_interpolate_is_still_refused(recording: ImuSequence, tmp_path: Path) -> None:
    path = _uneven(recording, tmp_path / "gap.csv", np.arange(2000, 2030), jitter=0.0)  # 0.155 s
    with pytest.raises(ImuDataError, match=r"gap\.csv: column 't': 1 gap\(s\).*lines 2001 and 2002.*too long to "
                                           r"interpolate across \(over 0\.1 s\)"):
        load_csv(path, resample=True)


def test_reference_signs_and_dropouts_survive_the_grid(recording: ImuSequence, tmp_path: Path) -> None:
    seq = load_csv(_uneven(recording, tmp_path / "q.csv", np.arange(500, 504), flip_signs=True), resample=True)
    assert np.allclose(np.linalg.norm(seq.q, axis=1), 1.0)  # q and -q in turn, never averaged to zero
    assert np.median(quat.tilt_error_deg(seq.q, recording.q[: len(seq)])) < 0.05
    lost = recording.q.copy()
    lost[1000:1100] = np.nan
    gridded = even_grid(load_csv(save_csv(type(recording)(recording.t, recording.acc, recording.gyr, lost,
                                                          RATE, {}), tmp_path / "lost.csv")))
    assert np.isnan(gridded.q[1000:1100]).all() and quat.present(gridded.q[:999]).all()


def test_jittery_timestamps_get_a_note_and_the_cli_evens_them(recording: ImuSequence, tmp_path: Path) -> None:
    path = _uneven(recording, tmp_path / "jitter.csv", np.array([], dtype=int), jitter=0.06)
    (said,) = note(load_csv(path), "jitter.csv", resampled=False)
    assert "the time steps spread 8% of a step" in said and "--resample" in said
    assert note(recording, "even.csv", resampled=False) == []
    out = tmp_path / "q.csv"
    run = subprocess.run([sys.executable, "-m", "neuroedge.cli", "imu", "run", str(path), "-o", str(out), "--resample"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    t = np.loadtxt(out, delimiter=",", skiprows=1)[:, 0]
    assert np.allclose(np.diff(t), np.median(np.diff(t)), atol=1e-9) and "resampled 6000 rows" in run.stderr
