"""A user's wiring mistakes, refused with the fix: a gyro axis negated or two swapped against the
accelerometer's (``neuroedge.imu.gyro_axes``), a sensor that reads one value throughout, a logger's comment
lines above the header; and ``--columns`` negating a column."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from neuroedge.imu.families import FAMILIES, generate_split
from neuroedge.imu.gyro_axes import gyro_axes_verdict
from neuroedge.imu.recording import ImuDataError, check_units, load_csv, parse_columns, save_csv


def _recording(tmp_path: Path, gyr_map, name: str = "rec.csv", family: str = "fast_rotation") -> tuple[Path, object]:
    seq = generate_split("val", family, 1, 20.0)[0]
    path = save_csv(replace(seq, gyr=gyr_map(seq.gyr)), tmp_path / name, reference=False)
    return path, seq


@pytest.mark.parametrize(("gyr_map", "fix"), [
    (lambda g: g * [-1.0, 1.0, 1.0], "gx=-gx"),
    (lambda g: g[:, [1, 0, 2]], "gx=gy,gy=gx"),
    (lambda g: np.stack([g[:, 0], -g[:, 2], g[:, 1]], axis=1), "gy=gz,gz=-gy"),  # axes turned 90° about x
])
def test_a_miswired_gyro_is_refused_with_the_columns_that_read_it(tmp_path: Path, gyr_map, fix: str) -> None:
    path, seq = _recording(tmp_path, gyr_map)
    with pytest.raises(ImuDataError, match=f"rec.csv: columns gx,gy,gz: the gyro's axes do not match.*--columns {fix} to read the gyro"):
        check_units(load_csv(path), path)
    fixed = load_csv(path, columns=parse_columns(fix))
    check_units(fixed, path)
    np.testing.assert_allclose(fixed.gyr, seq.gyr, atol=1e-6)


def test_right_axes_pass_on_every_family(tmp_path: Path) -> None:
    for family in FAMILIES:
        for seq in generate_split("val", family, 3, 20.0):
            refusal, note = gyro_axes_verdict(seq.acc, seq.gyr, seq.rate_hz, {})
            assert refusal is None and (note is None or "tilts too little" in note), (family, note)


def test_a_sensor_that_reads_one_value_throughout_is_refused(tmp_path: Path) -> None:
    path, _ = _recording(tmp_path, np.zeros_like)
    with pytest.raises(ImuDataError, match=r"columns gx,gy,gz: every row reads \[0.0, 0.0, 0.0\]"):
        check_units(load_csv(path), path)


def test_comment_lines_above_the_header_are_skipped_and_lines_still_counted(tmp_path: Path) -> None:
    path, seq = _recording(tmp_path, lambda g: g)
    text = path.read_text().splitlines()
    commented = tmp_path / "logged.csv"
    commented.write_text("\n".join(["# logger v1.2", "# sensor: BMI160"] + text) + "\n")
    np.testing.assert_allclose(load_csv(commented).gyr, seq.gyr, atol=1e-6)
    text[10] = text[10].replace(",", ",x", 1)  # data row 10 of the original: line 13 with the two comments
    commented.write_text("\n".join(["# logger v1.2", "# sensor: BMI160"] + text) + "\n")
    with pytest.raises(ImuDataError, match="logged.csv: line 13, column 'ax'"):
        load_csv(commented)


def test_only_sensor_columns_may_be_negated() -> None:
    assert parse_columns("gx=-gyro_y,ax=acc_x") == {"gx": "-gyro_y", "ax": "acc_x"}
    with pytest.raises(ImuDataError, match="--columns 't=-time': only ax,ay,az,gx,gy,gz may be negated"):
        parse_columns("t=-time")


def test_an_accelerometer_miswired_alone_looks_like_a_turned_gyro_and_the_refusal_says_either_may_be_off() -> None:
    """ω is a pseudovector: an accelerometer axis negated reads as the gyro turned 180° about it (det +1),
    never as a gyro mirror, so the refusal names both sensors; a gyro mirror names the gyro alone."""
    seq = generate_split("val", "fast_rotation", 1, 20.0)[0]
    refusal, _ = gyro_axes_verdict(seq.acc * [-1.0, 1.0, 1.0], seq.gyr, seq.rate_hz, {})
    assert refusal is not None and "gyro's columns (or the accelerometer's)" in refusal and "gy=-gy,gz=-gz" in refusal
    refusal, _ = gyro_axes_verdict(seq.acc, seq.gyr * [-1.0, 1.0, 1.0], seq.rate_hz, {})
    assert refusal is not None and "the gyro's columns is wrong" in refusal
