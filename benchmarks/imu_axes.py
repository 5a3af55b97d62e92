"""The gyro-axes check (``neuroedge.imu.gyro_axes``) on right and miswired recordings.

    .venv/bin/python benchmarks/imu_axes.py     # ~2 min on one core; writes benchmarks/results/imu_axes.json

Recordings: our five families' test splits and ``imu_foreign.py``'s six kinds (two from ``ahrs.Sensors``),
40 s each, in three sets. ``seen``: test sequences 0-9 a family and 8 test seeds a kind; the first design
(no ``EXPLAINED`` term) was run on it once, refused a right walking recording, and the second design was
then set on validation seeds. ``fresh``: sequences 10-19 and the next 8 seeds, which neither design saw.
``new`` (added 2026-12-04): sequences 20-29 and the 8 seeds after those. The checks' windows changed then
(only those in which gravity's direction moves, and a refusal needs the next best order ``UNIQUE`` worse),
after running that change on ``seen`` and ``fresh``: one ``ahrs_default`` recording on ``fresh`` had two
orders tied and was refused naming the wrong one, which ``UNIQUE`` answers; ``new`` is the set neither saw.
Each recording is checked as it is (right axes: it must pass) and as each of the 47 other signed
permutations of its gyro columns would read it (miswired: it should be refused naming the ``--columns``
that undoes it). One call a recording serves all 48: order ``M`` on a gyro miswired by ``W`` misses as
order ``M W`` does on the right one.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from common import write_results
from imu_foreign import KINDS, TEST_SEED, recording

from neuroedge.imu.families import FAMILIES, generate_split
from neuroedge.imu.gyro_axes import (
    EXPLAINED,
    NOTE_MARGIN,
    REFUSE_MARGIN,
    axes_errors,
    decide,
    signed_permutations,
)

MS = signed_permutations()
# COMPOSED[m, w]: the index of MS[m] @ MS[w]
COMPOSED = np.array([[next(i for i, x in enumerate(MS) if np.array_equal(x, m @ w)) for w in MS] for m in MS])
INVERSE = [next(i for i, x in enumerate(MS) if np.array_equal(x @ w, np.eye(3))) for w in MS]


def _decide(misses: np.ndarray, tilt: float, explained: bool) -> str:
    """"pass", "note", "too little tilt" or "refused as <index of the order named>"."""
    refusal, note = decide(misses, tilt, {})
    best = int(np.argmin(misses))
    ratio = misses[0] / max(misses[best], 1e-9)
    if not explained and note and "tilts too little" not in note and ratio >= REFUSE_MARGIN:
        return f"refused as {best}"  # the first design: the margin alone
    if refusal:
        return f"refused as {best}"
    if note:
        return "too little tilt" if "tilts too little" in note else "note"
    return "pass"


def _count(recordings: list[tuple[str, object]], explained: bool) -> dict:
    right = {"refused": 0, "noted": 0, "passed": 0, "too_little_tilt": 0}
    wired = {"refused_right_fix": 0, "refused_wrong_fix": 0, "noted": 0, "passed": 0, "too_little_tilt": 0}
    per_kind: dict[str, dict[str, int]] = {}
    for kind, (misses, tilt) in recordings:
        k = per_kind.setdefault(kind, {"right_refused": 0, "miswired": 0, "miswired_refused": 0})
        d = _decide(misses, tilt, explained)
        right[{"pass": "passed", "note": "noted", "too little tilt": "too_little_tilt"}.get(d, "refused")] += 1
        k["right_refused"] += d.startswith("refused")
        for w in range(1, len(MS)):
            d = _decide(misses[COMPOSED[:, w]], tilt, explained)
            k["miswired"] += 1
            if d.startswith("refused"):
                wired["refused_right_fix" if int(d.split()[-1]) == INVERSE[w] else "refused_wrong_fix"] += 1
                k["miswired_refused"] += 1
            else:
                wired[{"pass": "passed", "note": "noted"}.get(d, "too_little_tilt")] += 1
    return {"right_axes": right, "miswired": wired, "per_kind": per_kind}


def main() -> None:
    t0 = time.perf_counter()
    sets = {"seen": ([(f, s) for f in FAMILIES for s in generate_split("test", f, 10, 40.0)]
                     + [(k, recording(TEST_SEED + i, k)) for k in KINDS for i in range(8)]),
            "fresh": ([(f, s) for f in FAMILIES for s in generate_split("test", f, 20, 40.0)[10:]]
                      + [(k, recording(TEST_SEED + 8 + i, k)) for k in KINDS for i in range(8)]),
            "new": ([(f, s) for f in FAMILIES for s in generate_split("test", f, 30, 40.0)[20:]]
                    + [(k, recording(TEST_SEED + 16 + i, k)) for k in KINDS for i in range(8)])}
    out: dict[str, dict] = {}
    for name, seqs in sets.items():
        measured = [(kind, axes_errors(s.acc, s.gyr, s.rate_hz)) for kind, s in seqs]
        out[name] = {"recordings": len(seqs),
                     "first_design": _count(measured, explained=False), "design": _count(measured, explained=True)}
        for design in ("first_design", "design"):
            print(f"{name:5s} {design:12s} right axes {out[name][design]['right_axes']}  "
                  f"miswired {out[name][design]['miswired']}", flush=True)
    write_results("imu_axes", {"refuse_margin": REFUSE_MARGIN, "note_margin": NOTE_MARGIN, "explained": EXPLAINED,
                               **out, "benchmark_seconds": time.perf_counter() - t0})


if __name__ == "__main__":
    sys.exit(main())
