"""A user's CSV as it comes: other header names (mapped with --columns), another delimiter, not text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroedge.imu.families import generate_split
from neuroedge.imu.recording import ImuDataError, load_csv, parse_columns

THEIRS = ["timestamp", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
MAPPING = "t=timestamp,ax=acc_x,ay=acc_y,az=acc_z,gx=gyro_x,gy=gyro_y,gz=gyro_z"


def _write(path: Path, header: list[str], delimiter: str = ",") -> np.ndarray:
    seq = generate_split("test", "handheld", 1, duration_s=10.0)[0]
    data = np.column_stack([seq.t, seq.acc, seq.gyr])
    lines = [delimiter.join(header)] + [delimiter.join(f"{v:.6f}" for v in row) for row in data]
    path.write_text("\n".join(lines) + "\n")
    return data


def test_other_header_names_are_named_in_the_error_and_mapped_with_columns(tmp_path: Path) -> None:
    path = tmp_path / "phone.csv"
    data = _write(path, THEIRS)
    with pytest.raises(ImuDataError, match="the header has timestamp,acc_x.*--columns"):
        load_csv(path)
    seq = load_csv(path, columns=parse_columns(MAPPING))
    np.testing.assert_allclose(seq.gyr, data[:, 4:7], atol=1e-6)
    with pytest.raises(ImuDataError, match="--columns t=time: no such column"):
        load_csv(path, columns=parse_columns("t=time"))
    with pytest.raises(ImuDataError, match="NAME one of"):
        parse_columns("time=timestamp")


def test_a_semicolon_file_and_a_binary_file_get_the_reason(tmp_path: Path) -> None:
    _write(tmp_path / "semi.csv", ["t", "ax", "ay", "az", "gx", "gy", "gz"], ";")
    with pytest.raises(ImuDataError, match="must be comma-separated"):
        load_csv(tmp_path / "semi.csv")
    (tmp_path / "blob.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ImuDataError, match="blob.csv: not a text CSV file"):
        load_csv(tmp_path / "blob.csv")


def test_cli_columns_option(tmp_path: Path) -> None:
    path = tmp_path / "phone.csv"
    _write(path, THEIRS)
    out = tmp_path / "q.csv"
    run = subprocess.run([sys.executable, "-m", "neuroedge.cli", "imu", "run", str(path), "-o", str(out),
                          "--columns", MAPPING], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert out.read_text().splitlines()[0] == "t,qw,qx,qy,qz"
