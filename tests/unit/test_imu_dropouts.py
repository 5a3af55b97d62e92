"""A reference that drops out (motion capture losing its markers), and a recording pushed hard throughout.

Dropouts: tools write an empty cell, NaN or 0,0,0,0 where tracking was lost. The model runs through them
and errors are scored on the rows that have a reference; sensor cells get no such leave. The pushed
recording turns slowly under a strong, slow linear acceleration, so |a| stays steady far from g for
seconds: the units check must not read that as a device at rest in the wrong units.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, filtfilt
from scipy.spatial.transform import Rotation

from neuroedge.imu import quaternion as quat
from neuroedge.imu.adapt import AdaptError, adapt, reference_pieces
from neuroedge.imu.baselines import score
from neuroedge.imu.families import ImuConfig, ImuSequence, generate
from neuroedge.imu.fast import AttitudeModel
from neuroedge.imu.recording import ImuDataError, check_units, load_csv, save_csv
from neuroedge.imu.reference import check_reference, dropouts

RATE = 100.0


def _with_dropouts(seq: ImuSequence, path: Path, lost: list[tuple[int, int, str]]) -> Path:
    """``seq`` as CSV, its reference cells in each ``(first, end, cell)`` run of rows written as ``cell``."""
    save_csv(seq, path)
    lines = path.read_text().splitlines()
    for first, end, cell in lost:
        for k in range(first, min(end, len(seq))):
            cells = lines[k + 1].split(",")
            lines[k + 1] = ",".join(cells[:7] + [cell] * 4)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def recording() -> ImuSequence:
    return generate(21, ImuConfig(duration_s=30.0, rate_hz=RATE))


def test_dropouts_are_read_as_missing_and_left_out_of_the_score(recording: ImuSequence, tmp_path: Path) -> None:
    lost = [(800, 950, ""), (1500, 1510, "NaN"), (2200, 2230, "0")]
    seq = load_csv(_with_dropouts(recording, tmp_path / "mocap.csv", lost))
    present = quat.present(seq.q)
    assert (~present).sum() == 150 + 10 + 30
    assert not present[800:950].any() and present[:800].all()
    np.testing.assert_allclose(seq.acc, recording.acc, rtol=1e-7)  # the sensors are all there
    q_model = AttitudeModel.load().run(seq.acc, seq.gyr, seq.rate_hz)
    start = int(5 * RATE)
    keep = np.ones(len(seq), bool)
    keep[:start] = False
    keep &= present
    expected = np.mean(quat.tilt_error_deg(q_model[keep], recording.q[keep]))
    assert score(q_model, seq)["tilt_deg"] == pytest.approx(expected, rel=1e-6)
    ref, _ = check_reference(seq, path="mocap.csv")  # the checks read the rows that have one
    assert np.isnan(ref[900]).all() and np.isfinite(ref[700]).all()
    (note,) = dropouts(seq, "mocap.csv")
    assert "missing on 190 of 3000 rows (6.3%, 3 dropouts, the longest 1.50 s from t = 8.00 s)" in note


def test_a_convention_is_still_told_through_dropouts(recording: ImuSequence, tmp_path: Path) -> None:
    flipped = replace(recording, q=quat.conj(recording.q))  # world -> body
    seq = load_csv(_with_dropouts(flipped, tmp_path / "wb.csv", [(1000, 1400, "")]))
    with pytest.raises(ImuDataError, match="they fit --reference-frame world-to-body --reference-world z-up"):
        check_reference(seq, path="wb.csv")
    ref, _ = check_reference(seq, frame="world-to-body", path="wb.csv")
    assert np.isfinite(ref[quat.present(seq.q)]).all()


def test_what_is_not_a_dropout_is_still_refused(recording: ImuSequence, tmp_path: Path) -> None:
    path = _with_dropouts(recording, tmp_path / "all.csv", [(0, len(recording), "")])
    with pytest.raises(ImuDataError, match=r"all\.csv: columns qw,qx,qy,qz: no row holds a quaternion"):
        load_csv(path)
    lines = save_csv(recording, tmp_path / "gyro.csv").read_text().splitlines()
    cells = lines[5].split(",")
    lines[5] = ",".join(cells[:4] + [""] + cells[5:])
    (tmp_path / "gyro.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ImuDataError, match=r"gyro\.csv: line 6, column 'gx': '' is not a number"):
        load_csv(tmp_path / "gyro.csv")
    short = _with_dropouts(recording, tmp_path / "short.csv", [(50, len(recording), "nan")])
    with pytest.raises(ImuDataError, match=r"short\.csv: columns qw,qx,qy,qz: a quaternion on 50 rows only"):
        check_reference(load_csv(short), path="short.csv")


def test_adapting_cuts_a_recording_at_its_dropouts(recording: ImuSequence, tmp_path: Path) -> None:
    seq = load_csv(_with_dropouts(recording, tmp_path / "m.csv", [(1200, 1300, ""), (2500, 2600, "")]))
    pieces = reference_pieces(seq, "m.csv")
    # 0-12 s and 13-25 s are kept; 26-30 s is under 10 s
    assert [n for _, n in pieces] == ["m.csv (t = 0.0-12.0 s)", "m.csv (t = 13.0-25.0 s)"]
    assert all(quat.present(p.q).all() for p, _ in pieces)
    result = adapt(AttitudeModel.load(), [seq], ["m.csv"], methods=("shipped",))
    assert result.model.info["adapted"]["recordings"] == ["m.csv (t = 0.0-12.0 s)", "m.csv (t = 13.0-25.0 s)"]
    assert np.isfinite(result.shipped_deg)
    choppy = load_csv(_with_dropouts(recording, tmp_path / "c.csv", [(k, k + 5, "") for k in range(0, 3000, 500)]))
    with pytest.raises(AdaptError, match="c.csv: its reference drops out so often"):
        adapt(AttitudeModel.load(), [choppy], ["c.csv"], methods=("shipped",))


def test_cli_scores_through_dropouts_and_says_so(recording: ImuSequence, tmp_path: Path) -> None:
    path = _with_dropouts(recording, tmp_path / "mocap.csv", [(1000, 1100, "")])
    run = subprocess.run([sys.executable, "-m", "neuroedge.cli", "imu", "run", str(path), "-o",
                          str(tmp_path / "q.csv"), "--compare-filters"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "the reference is missing on 100 of 3000 rows" in run.stderr
    figures = [float(line.split()[-1].rstrip("°")) for line in run.stdout.splitlines() if line.endswith("°")]
    assert len(figures) == 7 and all(np.isfinite(figures))  # the model, RIANN and five filters
    assert len((tmp_path / "q.csv").read_text().splitlines()) == 3001  # every row gets an attitude


def _pushed(seed: int, seconds: float = 40.0) -> ImuSequence:
    """Slow turning (0.6 rad/s) under a slow, strong linear acceleration (2.5 m/s² an axis, 0.5 Hz)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)

    def smooth(cutoff: float, scale: float) -> np.ndarray:
        b, a = butter(2, cutoff / (RATE / 2))
        x = filtfilt(b, a, rng.standard_normal((n + 400, 3)), axis=0)[200:-200]
        return x / x.std(axis=0) * scale

    w, lin = smooth(0.3, 0.6), smooth(0.5, 2.5)
    rots = [Rotation.identity()]
    for step in Rotation.from_rotvec(w[:-1] / RATE):
        rots.append(rots[-1] * step)
    att = Rotation.concatenate(rots)
    acc = att.inv().apply(lin + [0.0, 0.0, 9.81]) + 0.03 * rng.standard_normal((n, 3))
    q = att.as_quat()[:, [3, 0, 1, 2]]
    return ImuSequence(np.arange(n) / RATE, acc, w + 0.002 * rng.standard_normal((n, 3)), q, RATE, {})


def test_a_recording_pushed_hard_throughout_is_not_refused_for_its_units() -> None:
    for seed in (1, 2, 3, 6, 7, 8):
        seq = _pushed(seed)
        # what the check once took for rest: 0.5 s windows where |a| alone holds within 2 %, off g by 1 m/s² or more
        norm = np.linalg.norm(seq.acc[:4000], axis=1).reshape(80, 50)
        steady = norm.mean(axis=1)[norm.std(axis=1) < 0.02 * norm.mean(axis=1)]
        assert steady.size >= 8 and np.median(steady) > 10.8
        check_units(seq, "pushed.csv")  # no refusal
        with pytest.raises(ImuDataError, match="it looks like g: pass --accel-units g"):
            check_units(replace(seq, acc=seq.acc / 9.81), "pushed.csv")
