"""Recordings in other tools' layouts (EuRoC / TUM-VI, rostopic echo -p) and time units other than seconds.

The signal comes from scipy's Rotation (a smooth rotation, gravity only), not from neuroedge's generators.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from neuroedge.imu.quaternion import tilt_error_deg
from neuroedge.imu.recording import ImuDataError, load_csv

RATE = 200.0
T0_NS = 1403636579758555392  # EuRoC MH_01's first IMU stamp: ns since the Unix epoch
EUROC_HEADER = ("#timestamp [ns],w_RS_S_x [rad s^-1],w_RS_S_y [rad s^-1],w_RS_S_z [rad s^-1],"
                "a_RS_S_x [m s^-2],a_RS_S_y [m s^-2],a_RS_S_z [m s^-2]")


def _signal(seconds: float = 12.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, Rotation]:
    """(stamps in ns, gyro rad/s, accelerometer m/s², attitude body -> world) of a smooth rotation."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    gyr = np.column_stack([1.2 * np.sin(0.7 * t), 0.9 * np.sin(1.1 * t + 1.0), 0.5 * np.cos(0.3 * t)])
    steps = Rotation.from_rotvec(gyr[:-1] / RATE)  # body rates: each step composes on the right
    attitude = [Rotation.identity()]
    for s in steps:
        attitude.append(attitude[-1] * s)
    att = Rotation.concatenate(attitude)
    acc = att.inv().apply([0.0, 0.0, 9.81])  # specific force of a body that only turns
    stamps = T0_NS + np.round(t * 1e9).astype(np.int64)
    return stamps, gyr, acc, att


def _euroc(path: Path) -> tuple[np.ndarray, Rotation]:
    stamps, gyr, acc, att = _signal()
    rows = [f"{s},{g[0]:.9f},{g[1]:.9f},{g[2]:.9f},{a[0]:.9f},{a[1]:.9f},{a[2]:.9f}"
            for s, g, a in zip(stamps, gyr, acc, strict=True)]
    path.write_text(EUROC_HEADER + "\n" + "\n".join(rows) + "\n")
    return stamps, att


def test_euroc_file_is_detected_with_ns_stamps(tmp_path: Path) -> None:
    stamps, _ = _euroc(tmp_path / "data.csv")
    seq = load_csv(tmp_path / "data.csv")
    assert seq.meta["layout"] == "euroc" and seq.meta["time_units"] == "ns"
    assert seq.rate_hz == pytest.approx(RATE, rel=1e-6)
    np.testing.assert_allclose(seq.t - seq.t[0], (stamps - stamps[0]) / 1e9, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(seq.acc, axis=1), 9.81, atol=1e-6)


def test_ros_layout_and_forced_layout_errors(tmp_path: Path) -> None:
    stamps, gyr, acc, _ = _signal(4.0)
    cols = ["%time", "field.header.seq", "field.orientation.w"] + [
        f"field.{n}.{a}" for n in ("angular_velocity", "linear_acceleration") for a in "xyz"]
    rows = [",".join([str(s), str(i), "1.0", *(f"{v:.9f}" for v in (*g, *a))])
            for i, (s, g, a) in enumerate(zip(stamps, gyr, acc, strict=True))]
    (tmp_path / "imu.csv").write_text(",".join(cols) + "\n" + "\n".join(rows) + "\n")
    seq = load_csv(tmp_path / "imu.csv")
    assert seq.meta["layout"] == "ros" and seq.rate_hz == pytest.approx(RATE, rel=1e-6)
    np.testing.assert_allclose(seq.gyr, gyr, atol=1e-8)
    with pytest.raises(ImuDataError, match=r"--layout euroc t=timestamp \[ns\].*no such column"):
        load_csv(tmp_path / "imu.csv", layout="euroc")


def test_milliseconds_read_as_seconds_get_a_hint(tmp_path: Path) -> None:
    _, gyr, acc, _ = _signal(3.0)
    rows = [f"{1000 * i / RATE:.3f},{a[0]},{a[1]},{a[2]},{g[0]},{g[1]},{g[2]}" for i, (g, a) in
            enumerate(zip(gyr, acc, strict=True))]
    (tmp_path / "ms.csv").write_text("t,ax,ay,az,gx,gy,gz\n" + "\n".join(rows) + "\n")
    with pytest.raises(ImuDataError, match="column 't'.*pass --time-units ms"):
        load_csv(tmp_path / "ms.csv")
    assert load_csv(tmp_path / "ms.csv", time_units="ms").rate_hz == pytest.approx(RATE, rel=1e-6)


def test_cli_on_a_euroc_file_keeps_the_stamps_and_tracks_the_tilt(tmp_path: Path) -> None:
    stamps, att = _euroc(tmp_path / "data.csv")
    out = tmp_path / "q.csv"
    run = subprocess.run([sys.executable, "-m", "neuroedge.cli", "imu", "run", str(tmp_path / "data.csv"),
                          "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "read as the euroc layout" in run.stderr
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    # Unix-epoch seconds keep their fraction of a second (a 9-digit format would write 1.40363658e+09).
    np.testing.assert_allclose(table[:, 0] - stamps[0] / 1e9, (stamps - stamps[0]) / 1e9, atol=1e-6)
    truth = att.as_quat()[:, [3, 0, 1, 2]]  # scipy is x,y,z,w; ours w,x,y,z
    tilt = tilt_error_deg(table[:, 1:5], truth)
    assert float(np.mean(tilt[int(2 * RATE):])) < 2.0  # after 2 s of settling
