"""A reference attitude in another convention is refused with the one that fits, never scored silently."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from neuroedge.imu import quaternion as quat
from neuroedge.imu.families import FAMILIES, generate_split
from neuroedge.imu.recording import ImuDataError, save_csv
from neuroedge.imu.reference import CONVENTIONS, WORLD_TO_Z_UP, check_reference, name


def _as_written(q: np.ndarray, convention: tuple[str, str]) -> np.ndarray:
    """Body -> world (z up) ``q`` as a reference in ``convention`` holds it (the inverse of reading it)."""
    frame, world = convention
    q = quat.multiply(quat.conj(WORLD_TO_Z_UP[world]), q)
    return q if frame == "body-to-world" else quat.conj(q)


def _same_rotation(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(np.abs((a * b).sum(axis=1)), 1.0, atol=1e-9))


@pytest.mark.parametrize("family", FAMILIES)
def test_each_convention_is_read_with_its_options_and_refused_without_them(family: str) -> None:
    seq = generate_split("test", family, 1, duration_s=30.0)[0]
    for convention in CONVENTIONS:
        held = replace(seq, q=_as_written(seq.q, convention))
        q, _ = check_reference(held, *convention)
        assert _same_rotation(q, seq.q)
        for other in CONVENTIONS:
            if other != convention:
                with pytest.raises(ImuDataError, match=f"they fit {name(convention)}"):
                    check_reference(held, *other, path="rec.csv")


def test_the_world_rotations_take_their_axis_up() -> None:
    axes = {"z-up": [0, 0, 1], "z-down": [0, 0, -1], "y-up": [0, 1, 0], "y-down": [0, -1, 0],
            "x-up": [1, 0, 0], "x-down": [-1, 0, 0]}
    for world, axis in axes.items():
        np.testing.assert_allclose(quat.rotate(WORLD_TO_Z_UP[world], np.array(axis, float)), [0, 0, 1], atol=1e-12)


def test_scalar_last_quaternions_are_named() -> None:
    seq = generate_split("test", "handheld", 1, duration_s=30.0)[0]
    with pytest.raises(ImuDataError, match="look scalar-last"):
        check_reference(replace(seq, q=seq.q[:, [1, 2, 3, 0]]))


def test_a_recording_from_another_projects_simulator() -> None:
    """``ahrs.Sensors`` (the ahrs package's IMU simulator, not ours) writes body -> world with z up."""
    from neuroedge.imu.ahrs_sensors import ahrs_recording

    seq = ahrs_recording(3000, 100.0, np.random.default_rng(3))
    q, _ = check_reference(seq)
    assert _same_rotation(q, seq.q)
    with pytest.raises(ImuDataError, match="they fit --reference-frame world-to-body --reference-world z-up"):
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
