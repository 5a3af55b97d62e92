"""Recordings in CSV: optional reference columns, units checked against the data, gaps; the CLI on a file."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from neuroedge.imu.families import ImuConfig, generate
from neuroedge.imu.recording import CSV_COLUMNS, ImuDataError, check_units, load_csv, save_csv

REC = ImuConfig(duration_s=20.0, rate_hz=100.0)


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


GOOD = "{t},0,0,9.81,0,0,0,1,0,0,0"


def test_round_trip_and_without_reference_columns(tmp_path: Path) -> None:
    seq = generate(7, REC)
    loaded = load_csv(save_csv(seq, tmp_path / "rec.csv"))
    np.testing.assert_allclose(loaded.acc, seq.acc, rtol=1e-7)
    np.testing.assert_allclose(loaded.q, seq.q, atol=1e-8)
    assert loaded.rate_hz == pytest.approx(100.0, rel=1e-6)
    raw = load_csv(save_csv(seq, tmp_path / "raw.csv", reference=False))
    assert raw.q is None and (tmp_path / "raw.csv").read_text().splitlines()[0] == "t,ax,ay,az,gx,gy,gz"
    assert check_units(raw, "raw.csv") == []


def test_deg_per_s_recording_is_refused_with_the_reason(tmp_path: Path) -> None:
    seq = generate(8, REC)
    path = save_csv(replace(seq, gyr=np.degrees(seq.gyr)), tmp_path / "deg.csv", reference=False)
    with pytest.raises(ImuDataError, match=r"deg\.csv: columns gx,gy,gz: .*looks like deg/s: pass --gyro-units deg/s"):
        check_units(load_csv(path), path)
    ok = load_csv(path, gyro_units="deg/s")
    np.testing.assert_allclose(ok.gyr, seq.gyr, rtol=1e-7, atol=1e-12)
    assert check_units(ok, path) == []


def test_g_recording_is_refused_with_the_reason(tmp_path: Path) -> None:
    seq = generate(9, REC)
    path = save_csv(replace(seq, acc=seq.acc / 9.81), tmp_path / "g.csv", reference=False)
    with pytest.raises(ImuDataError, match=r"g\.csv: columns ax,ay,az: gravity's magnitude .* it looks like g: "
                                           r"pass --accel-units g"):
        check_units(load_csv(path), path)
    assert check_units(load_csv(path, accel_units="g"), path) == []


def test_gap_in_timestamps_and_bad_options(tmp_path: Path) -> None:
    rows = [GOOD.format(t=k * 0.01) for k in range(10)] + [GOOD.format(t=0.5 + k * 0.01) for k in range(10)]
    with pytest.raises(ImuDataError, match=r"gap\.csv: column 't': 1 gap\(s\) .* lines 11 and 12"):
        load_csv(_write(tmp_path / "gap.csv", ",".join(CSV_COLUMNS), rows))
    with pytest.raises(ImuDataError, match="--gyro-units 'rpm'"):
        load_csv(tmp_path / "gap.csv", gyro_units="rpm")
    with pytest.raises(ImuDataError, match="reference columns qw, qx without qy, qz"):
        load_csv(_write(tmp_path / "half.csv", "t,ax,ay,az,gx,gy,gz,qw,qx", ["0,0,0,9.8,0,0,0,1,0"]))


def test_csv_errors_name_file_line_and_column(tmp_path: Path) -> None:
    header = ",".join(c for c in CSV_COLUMNS if c != "gy")
    with pytest.raises(ImuDataError, match=r"a\.csv: line 1 \(header\): missing column\(s\) gy"):
        load_csv(_write(tmp_path / "a.csv", header, ["0,0,0,9.8,0,0,1,0,0,0"]))
    rows = [GOOD.format(t=0.0), "0.01,0,nan,9.81,0,0,0,1,0,0,0", GOOD.format(t=0.02)]
    with pytest.raises(ImuDataError, match=r"b\.csv: line 3, column 'ay': nan is not finite"):
        load_csv(_write(tmp_path / "b.csv", ",".join(CSV_COLUMNS), rows))
    rows = [GOOD.format(t=0.0), GOOD.format(t=0.01), GOOD.format(t=0.005)]
    with pytest.raises(ImuDataError, match=r"line 4, column 't': time 0.005 does not increase"):
        load_csv(_write(tmp_path / "d.csv", ",".join(CSV_COLUMNS), rows))
    with pytest.raises(ImuDataError, match="no such file"):
        load_csv(tmp_path / "missing.csv")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuroedge.cli", "imu", "run", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_runs_a_raw_recording_and_refuses_wrong_units(tmp_path: Path) -> None:
    from neuroedge.imu.fast import SHIPPED

    if not SHIPPED.is_file():
        pytest.skip("no shipped weights in this checkout")
    seq = generate(11, REC)
    save_csv(seq, tmp_path / "ref.csv")
    out = _cli("ref.csv", "-o", "q.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "mean tilt error" in out.stdout
    q = np.loadtxt(tmp_path / "q.csv", delimiter=",", skiprows=1)
    assert q.shape == (len(seq), 5)
    save_csv(replace(seq, gyr=np.degrees(seq.gyr)), tmp_path / "deg.csv", reference=False)
    bad = _cli("deg.csv", "-o", "q2.csv", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "pass --gyro-units deg/s" in bad.stderr and not (tmp_path / "q2.csv").exists()
    again = _cli("ref.csv", "-o", "q.csv", cwd=tmp_path)
    assert again.returncode == 1 and "exists; pass --force" in again.stderr
