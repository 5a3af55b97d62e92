"""Recordings in CSV: read (reference quaternions optional), check the units, write.

A recording is a header naming at least ``t,ax,ay,az,gx,gy,gz`` (any order, case-insensitive), and
optionally ``qw,qx,qy,qz`` (a reference attitude, body -> world, z up; other conventions are converted
and checked by ``neuroedge.imu.reference``). Separated by commas, semicolons, tabs, ``|`` or runs of
spaces (what the header uses); where the separator is not a comma, a decimal comma is read as a point.
Time in seconds; accelerometer in m/s² or g, gyro in rad/s or deg/s (``accel_units``, ``gyro_units``;
converted on load).

Every problem is an ``ImuDataError`` that names the file, and the line, column or option at fault:
a missing column, a value that is not a finite number, a time that does not increase, a gap in the
timestamps, or units that the data contradicts (``check_units``). The one leave: a reference row that is
empty, NaN or zero is a dropout (``DROPOUT_CELLS``), read as NaN and not scored (``quaternion.present``).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from neuroedge.imu import quaternion as quat
from neuroedge.imu.errors import ImuDataError
from neuroedge.imu.families import GRAVITY, ImuSequence
from neuroedge.imu.layouts import LAYOUTS, TIME_UNITS, detect, header_name, time_unit_hint

SIGNAL_COLUMNS = ("t", "ax", "ay", "az", "gx", "gy", "gz")
REFERENCE_COLUMNS = ("qw", "qx", "qy", "qz")
CSV_COLUMNS = SIGNAL_COLUMNS + REFERENCE_COLUMNS
SENSOR_COLUMNS = SIGNAL_COLUMNS[1:]
GYRO_UNITS = {"rad/s": 1.0, "deg/s": math.pi / 180.0}
ACCEL_UNITS = {"m/s2": 1.0, "g": GRAVITY}
MAX_GAP = 1.5  # a step longer than this many median steps is a gap
# Reference cells read as "lost here": motion capture drops out when markers are hidden, and tools write
# an empty cell (OptiTrack, Vicon), NaN (Qualisys, pandas) or 0,0,0,0. Sensor cells get no such leave.
DROPOUT_CELLS = ("nan", "-nan", "na", "n/a", "null", "none")


def _units(value: str, table: dict[str, float], option: str) -> float:
    if value not in table:
        raise ImuDataError(f"{option} {value!r} is not one of {', '.join(table)}")
    return table[value]


def parse_columns(spec: str | None) -> dict[str, str]:
    """``--columns t=timestamp,ax=acc_x,...``: our column name -> the file's header name; a sensor column may
    be negated (``gx=-gyro_y``: an axis that points the other way)."""
    mapping: dict[str, str] = {}
    known = SIGNAL_COLUMNS + REFERENCE_COLUMNS
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        ours, sep, theirs = item.partition("=")
        ours = ours.strip().lower()
        if not sep or not theirs.strip() or ours not in known:
            raise ImuDataError(f"--columns {item.strip()!r}: expected NAME=HEADER with NAME one of {','.join(known)}")
        theirs = theirs.strip().lower()
        if theirs.startswith("-") and ours not in SENSOR_COLUMNS:
            raise ImuDataError(f"--columns {item.strip()!r}: only {','.join(SENSOR_COLUMNS)} may be negated")
        mapping[ours] = theirs
    return mapping


def load_csv(path: str | Path, gyro_units: str = "rad/s", accel_units: str = "m/s2",
             columns: dict[str, str] | None = None, layout: str | None = None,
             time_units: str | None = None, resample: bool = False) -> ImuSequence:
    """Read a recording; convert to s, m/s² and rad/s; the rate comes from the timestamps (gaps refused, or
    with ``resample`` those up to ``resample.MAX_GAP_S`` interpolated across onto an even grid).

    ``columns`` maps our column names to the file's header names where they differ (``parse_columns``), on
    top of ``layout`` (another tool's layout, ``neuroedge.imu.layouts``; detected from the header when
    our names are missing and one layout's are all there: ``meta["layout"]`` says which). ``time_units``
    (s, ms, us, ns) defaults to the layout's."""
    path = Path(path)
    try:
        seq = _load_csv(path, gyro_units, accel_units, columns or {}, layout, time_units, resample)
    except UnicodeDecodeError as exc:
        raise ImuDataError(f"{path}: not a text CSV file (byte {exc.start} is not UTF-8)") from None
    if resample:
        from neuroedge.imu.resample import even_grid

        seq = even_grid(seq)
    return seq


def _load_csv(path: Path, gyro_units: str, accel_units: str, columns: dict[str, str], layout: str | None,
              time_units: str | None, resample: bool) -> ImuSequence:
    g_scale = _units(gyro_units, GYRO_UNITS, "--gyro-units")
    a_scale = _units(accel_units, ACCEL_UNITS, "--accel-units")
    if layout is not None and layout not in LAYOUTS:
        raise ImuDataError(f"--layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if time_units is not None:
        _units(time_units, TIME_UNITS, "--time-units")
    if not path.is_file():
        raise ImuDataError(f"{path}: no such file")
    signs = np.array([-1.0 if columns.get(c, "").startswith("-") else 1.0 for c in SENSOR_COLUMNS])
    columns = {ours: theirs.lstrip("-") for ours, theirs in columns.items()}
    with open(path, newline="", encoding="utf-8-sig") as f:  # a BOM (Excel's "CSV UTF-8") is not the header
        comments, header_line = _comment_lines(f)
        delimiter = _delimiter(header_line)
        f.seek(0)
        for _ in range(comments):
            f.readline()
        reader = csv.reader(f, delimiter=delimiter) if delimiter else (line.split() for line in f)
        try:
            raw_header = [header_name(h) for h in next(reader)]
        except StopIteration:
            raise ImuDataError(f"{path}: empty file; expected a header {','.join(SIGNAL_COLUMNS)}") from None
        if layout is None and any(c not in raw_header for c in SIGNAL_COLUMNS):
            layout = detect(raw_header)
        chosen = LAYOUTS[layout or "neuroedge"]
        t_scale = TIME_UNITS[time_units or chosen.time_units]
        from_layout = {ours: theirs for ours, theirs in chosen.columns.items() if ours not in columns}
        for option, names in ((f"--layout {layout}", from_layout), ("--columns", columns)):
            absent = [f"{ours}={theirs}" for ours, theirs in names.items() if theirs not in raw_header]
            if absent:
                raise ImuDataError(f"{path}: line {comments + 1} (header): {option} {', '.join(absent)}: no such column; "
                                   f"the header has {','.join(raw_header)[:300]}")
        # The file's names, renamed to ours where the layout or --columns says so (--columns wins).
        renamed = {theirs: ours for ours, theirs in {**chosen.columns, **columns}.items()}
        header = [renamed.get(h, h) for h in raw_header]
        missing = [c for c in SIGNAL_COLUMNS if c not in header]
        if missing:
            raise ImuDataError(f"{path}: line {comments + 1} (header): missing column(s) {', '.join(missing)}; "
                               f"expected {','.join(SIGNAL_COLUMNS)} (and optionally {','.join(REFERENCE_COLUMNS)}); "
                               f"the header has {','.join(raw_header)[:200]}. Map other names with "
                               f"--columns t=timestamp,ax=acc_x,..., or name a layout: --layout "
                               f"{'|'.join(n for n in LAYOUTS if n != 'neuroedge')}")
        ref = [c for c in REFERENCE_COLUMNS if c in header]
        if ref and len(ref) != 4:
            raise ImuDataError(f"{path}: line {comments + 1} (header): reference columns {', '.join(ref)} without "
                               f"{', '.join(c for c in REFERENCE_COLUMNS if c not in ref)}; give all four or none")
        cols = SIGNAL_COLUMNS + (REFERENCE_COLUMNS if ref else ())
        index = [header.index(c) for c in cols]
        rows: list[list[float]] = []
        t_text: list[str] = []
        for line_no, row in enumerate(reader, start=2 + comments):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(raw_header) and any(cell.strip() for cell in row[len(raw_header):]):
                # more cells than names: a value would be read from its neighbour's column
                raise ImuDataError(f"{path}: line {line_no}: {len(row)} cells, but the header names "
                                   f"{len(raw_header)}; check the separator (and a decimal comma in a "
                                   "comma-separated file)")
            values = []
            for col, i in zip(cols, index, strict=True):
                cell = row[i].strip() if i < len(row) else ""
                if col in REFERENCE_COLUMNS and (not cell or cell.lower() in DROPOUT_CELLS):
                    values.append(math.nan)  # the reference lost here (a motion-capture dropout)
                    continue
                try:  # a decimal comma only where the comma is not the separator
                    v = float(cell.replace(",", ".") if delimiter != "," and cell.count(",") == 1 else cell)
                except ValueError:
                    raise ImuDataError(f"{path}: line {line_no}, column {col!r}: {cell!r} is not a number") from None
                if not math.isfinite(v):
                    raise ImuDataError(f"{path}: line {line_no}, column {col!r}: {cell} is not finite")
                values.append(v)
            if rows and values[0] <= rows[-1][0]:
                raise ImuDataError(f"{path}: line {line_no}, column 't': time {values[0]!r} does not increase "
                                   f"(previous {rows[-1][0]!r}); sort the file or drop duplicates")
            if ref and not math.fsum(x * x for x in values[7:]) >= 1e-12:  # a cell lost, or a tool's 0,0,0,0
                values[7:] = [math.nan] * 4
            rows.append(values)
            t_text.append(row[index[0]].strip())
    if len(rows) < 2:
        raise ImuDataError(f"{path}: needs at least 2 data rows, has {len(rows)}")
    data = np.asarray(rows, dtype=np.float64)
    t_rel = _time_since_first(t_text, data[:, 0]) * t_scale
    t = t_rel + data[0, 0] * t_scale
    rate = sampling_rate(t_rel, path, hint=time_units is None and t_scale == 1.0, first_line=2 + comments,
                         resample=resample)
    q = quat.normalize(data[:, 7:11]) if ref else None
    if q is not None and not quat.present(q).any():
        raise ImuDataError(f"{path}: columns qw,qx,qy,qz: no row holds a quaternion (every one is empty, NaN or "
                           "zero); drop the columns to run without a reference")
    data[:, 1:7] *= signs
    theirs = {**chosen.columns, **columns}  # the file's name for each of ours, a "-" where negated
    names = {c: ("-" if sg < 0 else "") + theirs.get(c, c) for c, sg in zip(SENSOR_COLUMNS, signs, strict=True)}
    return ImuSequence(t, data[:, 1:4] * a_scale, data[:, 4:7] * g_scale, q, rate,
                       {"source": str(path), "gyro_units": gyro_units, "accel_units": accel_units,
                        "layout": layout or "neuroedge", "time_units": time_units or chosen.time_units,
                        "columns": names})


def _comment_lines(f) -> tuple[int, str]:  # noqa: ANN001 - a text file, read from its start
    """How many ``#`` lines (a logger's notes) sit above the header, and the header line. The last of them is
    the header itself where data follows it at once (EuRoC's ``#timestamp [ns],...``)."""
    lines = []
    while (line := f.readline()).startswith("#"):
        lines.append(line)
    first = line.replace(";", ",").replace("\t", ",").replace("|", ",").split(",")[0].split()
    if lines and first and _is_number(first[0]):
        return len(lines) - 1, lines[-1]
    return len(lines), line


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _delimiter(header_line: str) -> str | None:
    """The separator the header uses: the commonest of ``,`` ``;`` tab ``|``, or ``None`` (runs of spaces)."""
    counts = {d: header_line.count(d) for d in ",;\t|"}
    best = max(counts, key=lambda d: counts[d])
    if counts[best]:
        return best
    return None if len(header_line.split()) > 1 else ","


def _time_since_first(text: list[str], parsed: np.ndarray) -> np.ndarray:
    """Time since the first sample, exact for integer stamps: a float64 holds ns since 1970 only to 256 ns,
    which would put a 200 Hz rate off by 25 ppm."""
    try:
        ints = [int(cell) for cell in text]
    except ValueError:
        return parsed - parsed[0]
    return np.asarray([i - ints[0] for i in ints], dtype=np.float64)


def sampling_rate(t: np.ndarray, path: str | Path = "recording", hint: bool = False, first_line: int = 2,
                  resample: bool = False) -> float:
    """The rate from the median time step; a step over ``MAX_GAP`` medians (a dropped sample) is refused, or
    with ``resample`` one over ``resample.MAX_GAP_S`` (too long to interpolate across).

    ``hint``: t was read as seconds by default, so an implausible step suggests the unit that fits."""
    from neuroedge.imu.resample import MAX_GAP_S

    dt = np.diff(t)
    step = float(np.median(dt))
    rate = 1.0 / step
    if not 1.0 <= rate <= 10_000.0:
        raise ImuDataError(f"{path}: column 't': median time step {step:g} s gives {rate:g} Hz, outside 1-10000 Hz"
                           f"{time_unit_hint(step) if hint else ''}")
    gaps = np.flatnonzero(dt > (max(MAX_GAP_S, MAX_GAP * step) if resample else MAX_GAP * step))
    if gaps.size:
        k = int(gaps[0])
        fix = (f"too long to interpolate across (over {MAX_GAP_S:g} s): split the file at the gap" if resample else
               f"the model needs evenly sampled data: split the file at the gap, or pass --resample to interpolate "
               f"across gaps up to {MAX_GAP_S:g} s")
        raise ImuDataError(f"{path}: column 't': {gaps.size} gap(s) in the timestamps; the first between lines "
                           f"{k + first_line} and {k + first_line + 1} ({dt[k]:g} s, against a median step of {step:g} s); "
                           f"{fix}")
    return rate


def check_units(seq: ImuSequence, path: str | Path = "recording") -> list[str]:
    """Refuse units or axes the data contradicts; notes on checks skipped or in doubt
    (``neuroedge.imu.units_check``, where the checks live)."""
    from neuroedge.imu.units_check import check_units as check

    return check(seq, path)


def save_csv(seq: ImuSequence, path: str | Path, reference: bool = True) -> Path:
    """Write ``t,ax..gz`` (s, m/s², rad/s) and, with ``reference`` and ``seq.q``, ``qw..qz``; atomically."""
    from neuroedge.bundle import atomic_write_bytes

    path = Path(path)
    cols, data = list(SIGNAL_COLUMNS), [seq.t[:, None], seq.acc, seq.gyr]
    if reference and seq.q is not None:
        cols += REFERENCE_COLUMNS
        data.append(seq.q)
    write_table(path, cols, np.column_stack(data), atomic_write_bytes)
    return path


def write_table(path: Path, columns: list[str], data: np.ndarray, writer) -> None:  # noqa: ANN001 - a callable
    import io

    buf = io.StringIO()
    buf.write(",".join(columns) + "\n")
    # t with every digit: a Unix time in seconds (1.7e9) at %.9g would lose its fraction of a second.
    np.savetxt(buf, data, delimiter=",", fmt=["%.17g"] + ["%.9g"] * (data.shape[1] - 1))
    writer(path, buf.getvalue().encode())
