"""The reference-convention check (``neuroedge.imu.reference``) on every convention of many recordings.

    .venv/bin/python benchmarks/imu_reference.py     # ~4 min on one core; writes benchmarks/results/imu_reference.json

Recordings: our five families' test splits (10 x 40 s each) and ``imu_foreign.py``'s six kinds (8 x 40 s
each, two from ``ahrs.Sensors``). Each reference is written in all 12 conventions (two directions x six
up axes) and read with every one: the right options must accept it (as the same rotation), every other
must refuse it with the right options named first; the quaternions written scalar-last must be named so.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np
from common import write_results
from imu_foreign import KINDS, TEST_SEED, recording

from neuroedge.imu import quaternion as quat
from neuroedge.imu.families import FAMILIES, generate_split
from neuroedge.imu.recording import ImuDataError
from neuroedge.imu.reference import CONVENTIONS, WORLD_TO_Z_UP, check_reference, name


def written(q: np.ndarray, convention: tuple[str, str]) -> np.ndarray:
    """Body -> world (z up) ``q`` as a reference in ``convention`` holds it."""
    q = quat.multiply(quat.conj(WORLD_TO_Z_UP[convention[1]]), q)
    return q if convention[0] == "body-to-world" else quat.conj(q)


def main() -> None:
    t0 = time.perf_counter()
    seqs = ([s for f in FAMILIES for s in generate_split("test", f, 10, 40.0)]
            + [recording(TEST_SEED + i, k) for k in KINDS for i in range(8)])
    counts = {"right_accepted": 0, "right_refused": 0, "wrong_accepted": 0, "wrong_refused_right_named_first": 0,
              "wrong_refused_other_named": 0, "scalar_last_named": 0}
    for seq in seqs:
        for conv in CONVENTIONS:
            held = replace(seq, q=written(seq.q, conv))
            for reading in CONVENTIONS:
                try:
                    q, _ = check_reference(held, *reading)
                    right = reading == conv and bool(np.allclose(np.abs((q * seq.q).sum(1)), 1.0, atol=1e-9))
                    counts["right_accepted" if right else "wrong_accepted"] += 1
                except ImuDataError as exc:
                    if reading == conv:
                        counts["right_refused"] += 1
                    elif f"they fit {name(conv)}" in str(exc):
                        counts["wrong_refused_right_named_first"] += 1
                    else:
                        counts["wrong_refused_other_named"] += 1
        try:
            check_reference(replace(seq, q=seq.q[:, [1, 2, 3, 0]]))
        except ImuDataError as exc:
            counts["scalar_last_named"] += "scalar-last" in str(exc)
        print(f"{len(seqs)} recordings; so far {counts}", end="\r", flush=True)
    print()
    print(counts)
    write_results("imu_reference", {"recordings": len(seqs), "conventions": len(CONVENTIONS), **counts,
                                    "benchmark_seconds": time.perf_counter() - t0})


if __name__ == "__main__":
    sys.exit(main())
