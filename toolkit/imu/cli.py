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

from neuroedge.imu.adapt_cli import add_adapt_parser
from neuroedge.imu.cli_reading import read_recording, reading_options


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``imu`` (with ``imu run``) to the ``neuroedge`` command line."""
    p = subparsers.add_parser("imu", help="IMU attitude: run the shipped model on a recording, or adapt it to yours")
    sub = p.add_subparsers(dest="imu_command", metavar="IMU_COMMAND")
    sub.required = True
    s = sub.add_parser("run", help="estimate the attitude over a CSV recording; write quaternions to CSV")
    s.add_argument("recording", help="CSV with a header t,ax,ay,az,gx,gy,gz[,qw,qx,qy,qz] (or --layout's)")
    s.add_argument("-o", "--output", required=True, help="output CSV: t,qw,qx,qy,qz")
    reading_options(s)
    s.add_argument("--compare-filters", action="store_true",
                   help="with reference columns: also score RIANN and the classical filters (library defaults)")
    s.add_argument("--model", help="a model .npz (default: the one shipped in the package)")
    s.add_argument("--force", action="store_true", help="replace an existing output file")
    s.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on failure")
    s.set_defaults(fn=cmd_run)
    add_adapt_parser(sub)
    return p


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
    if args.compare_filters:
        print("(to tune the filters and fit the model on recordings of your own: neuroedge imu adapt --help)")
    return 0
