"""The units check (``neuroedge.imu.recording.check_units``) on right recordings and on each wrong reading.

    .venv/bin/python benchmarks/imu_units.py    # ~6 min on one core; writes benchmarks/results/imu_units.json

Recordings: our five families' test splits and ``imu_foreign.py``'s six kinds (two from ``ahrs.Sensors``),
40 s each, in three sets. ``seen``: test sequences 0-9 a family, and seeds 9000-9024 a kind of the independent
generator, on which the first design (below) was found refusing right ``slow`` recordings and the
current one was then set. ``fresh``: sequences 10-19 and seeds 9200-9224, which neither design saw.
``new`` (added 2026-12-04, after the gyro checks' windows became those in which gravity's direction moves,
a change run on ``seen`` and ``fresh`` first): sequences 20-29 and seeds 9400-9424.

Each recording is checked as it is (it must pass) and read in each wrong unit a user can declare by
mistake; each of those should be refused naming the option that reads it right:

* the accelerometer in g read as m/s² (``--accel-units g``), and in m/s² read as g (``--accel-units m/s2``);
* the gyro in deg/s read as rad/s (``--gyro-units deg/s``), and in rad/s read as deg/s (``--gyro-units rad/s``).

``first_design``: the gravity check as it was until 2026-12-04: "still" meant any 0.5 s window where |a|
alone held within 2 %, and gravity had to read 8.8-10.8 m/s². A device turning under a steady push keeps
|a| steady at 11-12 m/s² for seconds, so right recordings were refused. ``design``: the window's whole
vector must hold within 2 % of |a|, two such windows at least (else |a|'s median over the recording), and
7-14 m/s² (``GRAVITY_BAND``: the units told apart differ 3.3x or more). The gyro checks are today's code in
both columns. They changed twice on 2026-12-04, measured at 496200d (``imu_units.json`` of that commit):
where turning explains too little of how gravity's direction moves (``neuroedge.imu.gyro_units.EXPLAINED``)
the units get a "not checked" note instead of passing as checked (before: 36 of 200 gyros read 57x too slow
passed on ``fresh``); and the windows are those in which gravity's direction moves (before: a recording
still most of the time went unchecked; 28 of 200 deg/s gyros read as rad/s were noted, not refused).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np
from common import write_results
from imu_foreign import KINDS, recording

from neuroedge.imu.families import FAMILIES, GRAVITY, ImuSequence, generate_split
from neuroedge.imu.recording import ImuDataError, check_units
from neuroedge.imu.units_check import GRAVITY_BAND

# variant -> (how the file reads the recording, the option a refusal must name)
WRONG = {
    "accel g read as m/s2": (lambda s: replace(s, acc=s.acc / GRAVITY), "--accel-units g"),
    "accel m/s2 read as g": (lambda s: replace(s, acc=s.acc * GRAVITY), "--accel-units m/s2"),
    "gyro deg/s read as rad/s": (lambda s: replace(s, gyr=np.degrees(s.gyr)), "--gyro-units deg/s"),
    "gyro rad/s read as deg/s": (lambda s: replace(s, gyr=np.radians(s.gyr)), "--gyro-units rad/s"),
}


def _first_design_level_refuses(seq: ImuSequence) -> bool:
    """The gravity check before 2026-12-04: |a|'s spread alone marked a still window; 8.8-10.8 m/s²."""
    w = max(4, int(0.5 * seq.rate_hz))
    n = len(seq.acc) // w
    norm = np.linalg.norm(seq.acc[: n * w], axis=1).reshape(n, w)
    mean = norm.mean(axis=1)
    still = mean[norm.std(axis=1) < 0.02 * mean]
    level = float(np.median(still)) if still.size else float(np.median(np.linalg.norm(seq.acc, axis=1)))
    return not 8.8 <= level <= 10.8


def _verdict(seq: ImuSequence, fix: str | None, first_design: bool) -> str:
    """"passed", "noted" (a check skipped or in doubt), "refused_right_fix" or "refused_wrong_reason"."""
    if first_design and _first_design_level_refuses(seq):
        return "refused_right_fix" if fix and fix.startswith("--accel-units") else "refused_wrong_reason"
    try:
        notes = check_units(seq, "rec.csv")
    except ImuDataError as e:
        return "refused_right_fix" if fix and f"pass {fix}" in str(e) else "refused_wrong_reason"
    doubt = ("not checked", "may not match", "reads gravity as")
    return "noted" if any(d in n for n in notes for d in doubt) else "passed"


def _count(seqs: list[tuple[str, ImuSequence]], first_design: bool) -> dict:
    out: dict[str, dict] = {"right": {}, **{name: {} for name in WRONG}}
    per_kind: dict[str, int] = {}
    for kind, seq in seqs:
        d = _verdict(seq, None, first_design)
        out["right"][d] = out["right"].get(d, 0) + 1
        per_kind[kind] = per_kind.get(kind, 0) + d.startswith("refused")
        for name, (read, fix) in WRONG.items():
            d = _verdict(read(seq), fix, first_design)
            out[name][d] = out[name].get(d, 0) + 1
    return {**out, "right_refused_per_kind": per_kind}


def main() -> None:
    t0 = time.perf_counter()
    sets = {"seen": ([(f, s) for f in FAMILIES for s in generate_split("test", f, 10, 40.0)]
                     + [(k, recording(9000 + i, k)) for k in KINDS for i in range(25)]),
            "fresh": ([(f, s) for f in FAMILIES for s in generate_split("test", f, 20, 40.0)[10:]]
                      + [(k, recording(9200 + i, k)) for k in KINDS for i in range(25)]),
            "new": ([(f, s) for f in FAMILIES for s in generate_split("test", f, 30, 40.0)[20:]]
                    + [(k, recording(9400 + i, k)) for k in KINDS for i in range(25)])}
    out: dict[str, dict] = {}
    for name, seqs in sets.items():
        out[name] = {"recordings": len(seqs)}
        for design in ("first_design", "design"):
            out[name][design] = _count(seqs, first_design=design == "first_design")
            print(f"{name:5s} {design:12s} {out[name][design]}", flush=True)
    write_results("imu_units", {"gravity_band_m_s2": list(GRAVITY_BAND), **out,
                                "benchmark_seconds": time.perf_counter() - t0})


if __name__ == "__main__":
    sys.exit(main())
