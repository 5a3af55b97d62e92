"""A reference attitude in another convention is refused with the one that fits, never scored silently."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from neuroedge.imu import quaternion as quat
from neuroedge.imu.families import FAMILIES, ImuSequence, generate_split
from neuroedge.imu.recording import ImuDataError, save_csv
from neuroedge.imu.reference import FRAMES, check_reference

FLIP = np.array([0.0, 1.0, 0.0, 0.0])
AS_WRITTEN = {  # body -> world (z up) as another convention would write it
    "body-to-world": lambda q: q,
    "world-to-body": quat.conj,
    "body-to-ned": lambda q: quat.multiply(FLIP, q),
    "ned-to-body": lambda q: quat.conj(quat.multiply(FLIP, q)),
}


def _same_rotation(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(np.abs((a * b).sum(axis=1)), 1.0, atol=1e-9))


@pytest.mark.parametrize("family", FAMILIES)
def test_each_convention_is_read_with_its_option_and_refused_without_it(family: str) -> None:
    seq = generate_split("test", family, 1, duration_s=30.0)[0]
    for frame, write in AS_WRITTEN.items():
        held = replace(seq, q=write(seq.q))
        q, _ = check_reference(held, frame)
        assert _same_rotation(q, seq.q)
        for other in FRAMES:
            if other != frame:
                with pytest.raises(ImuDataError, match=f"they fit --reference-frame {frame} "):
                    check_reference(held, other, "rec.csv")


def test_scalar_last_quaternions_are_named() -> None:
    seq = generate_split("test", "handheld", 1, duration_s=30.0)[0]
    with pytest.raises(ImuDataError, match="look scalar-last"):
        check_reference(replace(seq, q=seq.q[:, [1, 2, 3, 0]]))


def test_a_recording_from_another_projects_simulator() -> None:
    """``ahrs.Sensors`` (the ahrs package's IMU simulator, not ours) writes body -> world with z up."""
    from ahrs import Sensors

    sim = Sensors(num_samples=3000, freq=100.0, rng=np.random.default_rng(3))
    seq = ImuSequence(np.arange(3000) / 100.0, sim.accelerometers, sim.gyroscopes,
                      np.asarray(sim.quaternions), 100.0, {})
    q, _ = check_reference(seq)
    assert _same_rotation(q, seq.q)
    with pytest.raises(ImuDataError, match="they fit --reference-frame world-to-body"):
        check_reference(replace(seq, q=quat.conj(seq.q)))


def test_cli_refuses_a_world_to_body_reference_and_reads_it_with_the_option(tmp_path: Path) -> None:
    from neuroedge.imu.fast import SHIPPED

    if not SHIPPED.is_file():
        pytest.skip("no shipped weights in this checkout")
    seq = generate_split("test", "fast_rotation", 1, duration_s=20.0)[0]
    save_csv(seq, tmp_path / "right.csv")
    save_csv(replace(seq, q=quat.conj(seq.q)), tmp_path / "w2b.csv")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "neuroedge.cli", "imu", "run", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)

    bad = run("w2b.csv", "-o", "q.csv")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr, bad.stderr
    assert "w2b.csv: columns qw,qx,qy,qz" in bad.stderr and "--reference-frame world-to-body" in bad.stderr
    assert not (tmp_path / "q.csv").exists()
    ok = run("w2b.csv", "-o", "q.csv", "--reference-frame", "world-to-body")
    right = run("right.csv", "-o", "q2.csv")
    assert ok.returncode == 0 and right.returncode == 0, ok.stderr + right.stderr
    tilt = [line for line in ok.stdout.splitlines() if "shipped" in line]
    assert tilt and tilt == [line for line in right.stdout.splitlines() if "shipped" in line]
