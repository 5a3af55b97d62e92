"""The options that say how a recording is read and checked, and the reading itself: shared by
``neuroedge imu run`` (``neuroedge.imu.cli``) and ``neuroedge imu adapt`` (``neuroedge.imu.adapt_cli``).
Imports nothing heavy until a recording is read."""

from __future__ import annotations

import argparse
import sys

# tables of names only: the choices come from them
from neuroedge.imu.layouts import LAYOUTS, REFERENCE_FRAMES, REFERENCE_WORLDS, TIME_UNITS


def reading_options(s: argparse.ArgumentParser) -> None:
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
    s.add_argument("--resample", action="store_true",
                   help="put uneven timestamps (dropped samples, jitter) on an even grid at the rate the steps "
                        "give, interpolating across gaps up to 0.1 s")


def read_recording(path: str, args: argparse.Namespace):  # noqa: ANN201 - ImuSequence, imported lazily
    """Load, check the units and the reference's convention (notes to stderr); the reference in our frame."""
    from dataclasses import replace

    from neuroedge.imu.recording import check_units, load_csv, parse_columns

    resample = getattr(args, "resample", False)
    seq = load_csv(path, gyro_units=args.gyro_units, accel_units=args.accel_units,
                   columns=parse_columns(args.columns), layout=args.layout, time_units=args.time_units,
                   resample=resample)
    if seq.meta["layout"] != "neuroedge" and args.layout is None:
        print(f"note: {path}: read as the {seq.meta['layout']} layout (its header), time in "
              f"{seq.meta['time_units']}", file=sys.stderr)
    from neuroedge.imu.resample import note as timing_note

    notes = timing_note(seq, path, resample)
    notes += [] if args.skip_unit_check else check_units(seq, path)
    if seq.q is not None:  # before the model runs: a reference that cannot be scored against fails fast
        from neuroedge.imu.reference import check_reference, dropouts, to_model_frame

        notes += dropouts(seq, path)
        if args.skip_reference_check:
            ref, ref_notes = to_model_frame(seq.q, args.reference_frame, args.reference_world), []
        else:
            ref, ref_notes = check_reference(seq, args.reference_frame, args.reference_world, path)
        notes += ref_notes
        seq = replace(seq, q=ref)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return seq
