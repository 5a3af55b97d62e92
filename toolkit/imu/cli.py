"""``neuroedge imu run``: the shipped attitude model on a user's recording (CSV in, quaternions out).

    neuroedge imu run RECORDING.csv -o quats.csv [--gyro-units rad/s|deg/s] [--accel-units m/s2|g]
                      [--layout euroc|ros] [--time-units s|ms|us|ns] [--columns t=...,ax=...]
                      [--compare-filters] [--reference-frame body-to-world|world-to-body]
                      [--reference-world z-up|z-down|y-up|y-down|x-up|x-down]
                      [--model attitude.npz] [--force]

Reads ``t,ax,ay,az,gx,gy,gz`` (and ``qw,qx,qy,qz`` if the recording has a reference), checks the units
against the data (gravity's magnitude when still; the gyro against the accelerometer's view of gravity)
and the timestamps (rate, gaps; another tool's layout, such as EuRoC's with ns
timestamps, is read as such: ``neuroedge.imu.layouts``), runs the model over the whole recording in one compiled call, and writes
``t,qw,qx,qy,qz`` (body -> world, z up) atomically. With a reference (checked against the accelerometer
first, so that a reference in another convention is refused with the one that fits, not scored:
``neuroedge.imu.reference``) it prints the tilt error, and with
``--compare-filters`` that of RIANN and the classical filters at their library defaults (not tuned: there
is no validation split for a user's recording; ``neuroedge imu adapt`` tunes both on a user's recordings
with a reference: ``neuroedge.imu.adapt_cli``). Imports nothing heavy until it runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# tables of names only: the choices come from them
from neuroedge.imu.layouts import LAYOUTS, REFERENCE_FRAMES, REFERENCE_WORLDS, TIME_UNITS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``imu`` (with ``imu run``) to the ``neuroedge`` command line."""
    p = subparsers.add_parser("imu", help="IMU attitude: run the shipped model on a recording, or adapt it to yours")
    sub = p.add_subparsers(dest="imu_command", metavar="IMU_COMMAND")
    sub.required = True
    s = sub.add_parser("run", help="estimate the attitude over a CSV recording; write quaternions to CSV")
    s.add_argument("recording", help="CSV with a header t,ax,ay,az,gx,gy,gz[,qw,qx,qy,qz] (or --layout's)")
    s.add_argument("-o", "--output", required=True, help="output CSV: t,qw,qx,qy,qz")
    _reading_options(s)
    s.add_argument("--compare-filters", action="store_true",
                   help="with reference columns: also score RIANN and the classical filters (library defaults)")
    s.add_argument("--model", help="a model .npz (default: the one shipped in the package)")
    s.add_argument("--force", action="store_true", help="replace an existing output file")
    s.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on failure")
    s.set_defaults(fn=cmd_run)
    from neuroedge.imu.adapt_cli import add_adapt_parser

    add_adapt_parser(sub, _reading_options)
    return p


def _reading_options(s: argparse.ArgumentParser) -> None:
    """How a recording is read and checked: the options ``run`` and ``adapt`` share."""
    s.add_argument("--gyro-units", default="rad/s", choices=("rad/s", "deg/s"), help="gyro columns' unit")
    s.add_argument("--accel-units", default="m/s2", choices=("m/s2", "g"), help="accelerometer columns' unit")
    s.add_argument("--layout", choices=tuple(LAYOUTS),
                   help="another tool's CSV layout (default: ours, or the one the header matches)")
    s.add_argument("--time-units", choices=tuple(TIME_UNITS),
                   help="the time column's unit (default: seconds, or the layout's)")
    s.add_argument("--columns", help="the file's header names where they differ from ours, e.g. "
                                     "t=timestamp,ax=acc_x,ay=acc_y,az=acc_z,gx=gyro_x,gy=gyro_y,gz=gyro_z")
    s.add_argument("--reference-frame", default="body-to-world", choices=REFERENCE_FRAMES,
                   help="which way the reference quaternions turn (default: body -> world, as the model's)")
    s.add_argument("--reference-world", default="z-up", choices=REFERENCE_WORLDS,
                   help="which axis of the reference's world is up (default z-up; NED: z-down; OptiTrack: y-up)")
    s.add_argument("--skip-reference-check", action="store_true",
                   help="score against the reference even if it disagrees with the accelerometer's gravity")
    s.add_argument("--skip-unit-check", action="store_true", help="run even if the units look wrong")


def read_recording(path: str, args: argparse.Namespace):  # noqa: ANN201 - ImuSequence, imported lazily
    """Load, check the units and the reference's convention (notes to stderr); the reference in our frame."""
    from dataclasses import replace

    from neuroedge.imu.recording import check_units, load_csv, parse_columns

    seq = load_csv(path, gyro_units=args.gyro_units, accel_units=args.accel_units,
                   columns=parse_columns(args.columns), layout=args.layout, time_units=args.time_units)
    if seq.meta["layout"] != "neuroedge" and args.layout is None:
        print(f"note: {path}: read as the {seq.meta['layout']} layout (its header), time in "
              f"{seq.meta['time_units']}", file=sys.stderr)
    notes = [] if args.skip_unit_check else check_units(seq, path)
    if seq.q is not None:  # before the model runs: a reference that cannot be scored against fails fast
        from neuroedge.imu.reference import check_reference, to_model_frame

        if args.skip_reference_check:
            ref, ref_notes = to_model_frame(seq.q, args.reference_frame, args.reference_world), []
        else:
            ref, ref_notes = check_reference(seq, args.reference_frame, args.reference_world, path)
        notes += ref_notes
        seq = replace(seq, q=ref)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return seq


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from neuroedge.imu.fast import SHIPPED, AttitudeModel
    from neuroedge.imu.recording import write_table

    out = Path(args.output)
    if out.exists() and not args.force:
        raise ValueError(f"{out}: exists; pass --force to replace it")
    seq = read_recording(args.recording, args)
    model = AttitudeModel.load(args.model or SHIPPED)
    t0 = time.perf_counter()
    model.run(seq.acc[:2], seq.gyr[:2], seq.rate_hz)  # loads the compiled code (numba's cache) once
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    q = model.run(seq.acc, seq.gyr, seq.rate_hz)
    seconds = time.perf_counter() - t0
    from neuroedge.bundle import atomic_write_bytes

    write_table(out, ["t", "qw", "qx", "qy", "qz"], np.column_stack([seq.t, q]), atomic_write_bytes)  # t in s
    duration = seq.t[-1] - seq.t[0]
    print(f"{args.recording}: {len(seq)} samples, {seq.rate_hz:.1f} Hz, {duration:.1f} s; "
          f"model in {seconds:.2f} s ({1e6 * seconds / len(seq):.1f} µs per sample; loading its compiled "
          f"code took {load_s:.1f} s more); wrote {out}")
    if seq.q is None:
        if args.compare_filters:
            print("note: --compare-filters needs reference columns qw,qx,qy,qz; none in this recording",
                  file=sys.stderr)
        return 0
    from neuroedge.imu.baselines import BASELINES, WARMUP_S, run_riann, score

    warmup = WARMUP_S if duration > 2 * WARMUP_S else 0.0
    rows = [("neuroedge model (shipped)", score(q, seq, warmup))]
    if args.compare_filters:
        rows.append(("riann", score(run_riann(seq), seq, warmup)))
        for name, b in BASELINES.items():
            rows.append((f"{name} (library defaults)", score(b.run(seq, **b.defaults), seq, warmup)))
    print(f"mean tilt error against the reference, after {warmup:.0f} s:")
    for name, s in rows:
        print(f"  {name:28s} {s['tilt_deg']:.2f}°")
    return 0
