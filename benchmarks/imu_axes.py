"""The gyro-axes check (``neuroedge.imu.gyro_axes``) on right and miswired recordings.

    .venv/bin/python benchmarks/imu_axes.py     # ~1 min on one core; writes benchmarks/results/imu_axes.json

Recordings: our five families' test splits (10 x 40 s each) and ``imu_foreign.py``'s six kinds (8 x 40 s
each, two from ``ahrs.Sensors``): none of them was looked at when the margins were set (those came from
validation seeds). Each is checked as it is (right axes: it must pass) and as each of the 47 other signed
permutations of its gyro columns would read it (miswired: it should be refused, naming the ``--columns``
that undoes the permutation). One call per recording serves all 48: the miss of order ``M`` on a gyro
miswired by ``W`` is the miss of ``M W`` on the right one.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from common import write_results
from imu_foreign import KINDS, TEST_SEED, recording

from neuroedge.imu.families import FAMILIES, generate_split
from neuroedge.imu.gyro_axes import NOTE_MARGIN, REFUSE_MARGIN, axes_errors
from neuroedge.imu.gyro_units import MIN_TILT_DEG


def main() -> None:
    t0 = time.perf_counter()
    seqs = ([(f, s) for f in FAMILIES for s in generate_split("test", f, 10, 40.0)]
            + [(k, recording(TEST_SEED + i, k)) for k in KINDS for i in range(8)])
    per_kind: dict[str, dict[str, float]] = {}
    right = {"checked": 0, "too_little_tilt": 0, "refused": 0, "noted": 0, "largest_ratio": 0.0}
    wired = {"checked": 0, "refused_right_fix": 0, "refused_wrong_fix": 0, "noted": 0, "passed": 0}
    for kind, seq in seqs:
        misses, tilt = axes_errors(seq.acc, seq.gyr, seq.rate_hz)
        k = per_kind.setdefault(kind, {"recordings": 0, "checked": 0, "miswired_refused": 0, "miswired": 0})
        k["recordings"] += 1
        if misses.size == 0 or tilt < MIN_TILT_DEG:
            right["too_little_tilt"] += 1
            continue
        right["checked"] += 1
        k["checked"] += 1
        ratio = misses[0] / np.delete(misses, 0).min()  # the right order against the best other
        right["largest_ratio"] = max(right["largest_ratio"], float(ratio))
        right["refused"] += ratio >= REFUSE_MARGIN
        right["noted"] += NOTE_MARGIN <= ratio < REFUSE_MARGIN
        best = int(np.argmin(misses))
        for w in range(1, len(misses)):  # miswired by order w: it reads misses[w] as declared
            r = misses[w] / misses[best]
            wired["checked"] += 1
            k["miswired"] += 1
            if r >= REFUSE_MARGIN:
                wired["refused_right_fix" if best == 0 else "refused_wrong_fix"] += 1
                k["miswired_refused"] += 1
            elif r >= NOTE_MARGIN:
                wired["noted"] += 1
            else:
                wired["passed"] += 1
        print(f"{kind:14s} tilt {tilt:5.1f}°  right/best other {ratio:.2f}", flush=True)
    print("right axes:", right)
    print("miswired:", wired)
    write_results("imu_axes", {"refuse_margin": REFUSE_MARGIN, "note_margin": NOTE_MARGIN,
                               "min_tilt_deg": MIN_TILT_DEG, "recordings": len(seqs), "right_axes": right,
                               "miswired": wired, "per_kind": per_kind,
                               "benchmark_seconds": time.perf_counter() - t0})


if __name__ == "__main__":
    sys.exit(main())
