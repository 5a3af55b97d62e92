"""``neuroedge imu adapt``: fit the shipped model's core to a user's recordings with a reference.

    neuroedge imu adapt REC.csv REC.csv [...] -o adapted.npz [--check REC.csv ...] [--compare-filters]
                        [the reading options of ``neuroedge imu run``] [--model base.npz] [--force]
    neuroedge imu run NEW.csv -o quats.csv --model adapted.npz

How far to fit is chosen by two-fold cross-validation over the recordings given
(``neuroedge.imu.adapt``). ``--check`` scores the shipped and the adapted model on recordings that had no
part in the fit; with ``--compare-filters`` the classical filters are tuned on the same recordings the
model was adapted on (``neuroedge.imu.evaluate.tune_filters``, every option searched) and scored there
too, with RIANN, so the comparison is like for like.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from neuroedge.imu.cli_reading import reading_options


def add_adapt_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    s = sub.add_parser("adapt", help="fit the model's core to your recordings with a reference (qw,qx,qy,qz)")
    s.add_argument("recordings", nargs="+", help="CSV recordings with reference columns: two or more of >= 10 s, or one of >= 20 s")
    s.add_argument("-o", "--output", required=True, help="the adapted model (.npz) for `imu run --model`")
    s.add_argument("--check", nargs="+", default=[], metavar="RECORDING",
                   help="recordings to score the result on, kept out of the fit")
    s.add_argument("--compare-filters", action="store_true",
                   help="with --check: also filters tuned on the adaptation recordings, and RIANN")
    reading_options(s)
    s.add_argument("--model", help="the model to adapt (default: the one shipped in the package)")
    s.add_argument("--force", action="store_true", help="replace an existing output file")
    s.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on failure")
    s.set_defaults(fn=cmd_adapt)
    return s


def _gmean(values: list[float]) -> float:
    return math.exp(sum(math.log(max(v, 1e-9)) for v in values) / len(values))


def cmd_adapt(args: argparse.Namespace) -> int:
    from neuroedge.imu.adapt import adapt, scored_tilt_deg
    from neuroedge.imu.cli_reading import read_recording
    from neuroedge.imu.fast import SHIPPED, AttitudeModel

    out = Path(args.output)
    if out.exists() and not args.force:
        raise ValueError(f"{out}: exists; pass --force to replace it")
    shared = set(args.recordings) & set(args.check)
    if shared:
        raise ValueError(f"--check {', '.join(sorted(shared))}: also an adaptation recording; a check must be "
                         "one the fit has not seen")
    recs = [read_recording(p, args) for p in args.recordings]
    checks = [read_recording(p, args) for p in args.check]
    for path, seq in zip(args.check, checks, strict=True):
        if seq.q is None:
            raise ValueError(f"{path}: no reference columns qw,qx,qy,qz; a --check recording needs them")
    model = AttitudeModel.load(args.model or SHIPPED)
    t0 = time.perf_counter()
    result = adapt(model, recs, args.recordings, log=lambda m: print(m, flush=True))
    result.model.save(out)
    print(f"\nadapted on {len(result.model.info['adapted']['recordings'])} recordings in {time.perf_counter() - t0:.0f} s; chosen by cross-validation (one-standard-error rule): "
          f"{result.method} (held-out error: " + ", ".join(f"{m} {e:.3f}°" for m, e in result.cv_deg.items()) + ")")
    print(f"on the adaptation recordings: shipped {result.shipped_deg:.3f}°, adapted {result.adapted_deg:.3f}° "
          f"(geometric mean of the tilt errors)")
    for name, (before, after) in (result.detail.items() if result.method == "local" else ()):
        print(f"  {name}: {before:.4g} -> {after:.4g}")
    if result.method == "grid":
        print(f"  the grid's core: {result.detail}")
    print(f"wrote {out}; run it with: neuroedge imu run RECORDING.csv -o quats.csv --model {out}")
    if not checks:
        return 0
    rows = [("shipped model", lambda s: model.run(s.acc, s.gyr, s.rate_hz)),
            ("adapted model", lambda s: result.model.run(s.acc, s.gyr, s.rate_hz))]
    if args.compare_filters:
        from neuroedge.imu.baselines import BASELINES, run_riann
        from neuroedge.imu.evaluate import tune_filters

        print("tuning the filters on the adaptation recordings ...", flush=True)
        tuned = tune_filters(recs)
        for name, t in tuned.items():
            rows.append((f"{name} (tuned here)", lambda s, n=name, p=t["params"]: BASELINES[n].run(s, **p)))
        rows.append(("riann", run_riann))
    print(f"on the {len(checks)} check recordings (tilt error after 5 s; geometric mean, then each):")
    for label, run in rows:
        errs = [scored_tilt_deg(run(s), s) for s in checks]
        print(f"  {label:24s} {_gmean(errs):7.3f}°   " + " ".join(f"{e:.3f}" for e in errs))
    return 0

