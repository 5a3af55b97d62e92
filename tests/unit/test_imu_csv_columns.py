"""A user's CSV as it comes: other header names (mapped with --columns), other delimiters, a decimal comma, not text."""

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


@pytest.mark.parametrize("delimiter", [";", "\t", "|", "  "])
def test_semicolon_tab_bar_and_space_separated_files_read_as_the_comma_file(tmp_path: Path, delimiter: str) -> None:
    header = ["t", "ax", "ay", "az", "gx", "gy", "gz"]
    data = _write(tmp_path / "comma.csv", header)
    _write(tmp_path / "other.csv", header, delimiter)
    ref, seq = load_csv(tmp_path / "comma.csv"), load_csv(tmp_path / "other.csv")
    np.testing.assert_array_equal(seq.acc, ref.acc)
    np.testing.assert_allclose(seq.gyr, data[:, 4:7], atol=1e-6)
    assert seq.rate_hz == ref.rate_hz


def test_a_decimal_comma_is_read_only_where_the_comma_is_not_the_separator(tmp_path: Path) -> None:
    header = ["t", "ax", "ay", "az", "gx", "gy", "gz"]
    data = _write(tmp_path / "point.csv", header, ";")
    text = (tmp_path / "point.csv").read_text()
    (tmp_path / "decimal_comma.csv").write_text(text.replace(".", ","))
    seq = load_csv(tmp_path / "decimal_comma.csv")
    np.testing.assert_allclose(seq.acc, data[:, 1:4], atol=1e-6)
    # In a comma-separated file a decimal comma splits a value in two: the row is refused, never read
    # shifted by a column.
    (tmp_path / "bad.csv").write_text("t,ax,ay,az,gx,gy,gz\n0,0,0,9,81,0,0,0\n0.01,0,0,9.81,0,0,0\n")
    with pytest.raises(ImuDataError, match="bad.csv: line 2: 8 cells, but the header names 7"):
        load_csv(tmp_path / "bad.csv")


def test_a_byte_order_mark_and_windows_line_ends_read_as_the_plain_file(tmp_path: Path) -> None:
    # Excel's "CSV UTF-8 (comma delimited)" starts the file with a BOM and ends lines with CRLF
    _write(tmp_path / "plain.csv", ["t", "ax", "ay", "az", "gx", "gy", "gz"])
    text = (tmp_path / "plain.csv").read_text()
    (tmp_path / "excel.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    ref, seq = load_csv(tmp_path / "plain.csv"), load_csv(tmp_path / "excel.csv")
    np.testing.assert_array_equal(seq.acc, ref.acc)
    np.testing.assert_array_equal(seq.t, ref.t)


def test_a_binary_file_gets_the_reason(tmp_path: Path) -> None:
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
