"""IMU attitude demo: the shipped model on a recording, from the command line, as a user would run it.

    .venv/bin/python examples/imu_attitude/demo.py

1. writes a 60 s recording of two motion families (handheld, impacts) to CSV (``neuroedge.imu.families``; one with
   reference quaternions, one raw, its gyro logged in deg/s);
2. runs ``neuroedge imu run`` on them: the tilt error against the reference with ``--compare-filters``;
   the raw deg/s file refused with the reason, then accepted with ``--gyro-units deg/s``; the same recording
   with its gyro's x axis negated refused naming ``--columns gx=-gx``, then accepted with it;
3. runs ``neuroedge imu adapt`` on two recordings of another project's simulator (``ahrs.Sensors``, its
   default gyro noise far above the consumer parts the model was trained for) and checks it on a third.

``benchmarks/imu.py`` is the full comparison (every family, leave-one-family-out, tuned filters).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from neuroedge.imu.ahrs_sensors import ahrs_recording
from neuroedge.imu.families import generate_split
from neuroedge.imu.recording import save_csv

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".cache" / "imu_attitude" / "demo"


def neuroedge(*args: str) -> int:
    cmd = [sys.executable, "-m", "neuroedge.cli", *args]
    print("$ neuroedge " + " ".join(args), flush=True)
    return subprocess.run(cmd, cwd=OUT).returncode


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    handheld = generate_split("test", "handheld", 1, 60.0)[0]
    shaken = generate_split("test", "impacts", 1, 60.0)[0]
    save_csv(handheld, OUT / "handheld.csv")
    save_csv(replace(shaken, gyr=np.degrees(shaken.gyr)), OUT / "impacts_raw_degps.csv", reference=False)
    print(f"wrote {OUT}/handheld.csv ({handheld.rate_hz:.0f} Hz, with reference) and impacts_raw_degps.csv "
          f"({shaken.rate_hz:.0f} Hz, no reference, gyro in deg/s)")
    rc = neuroedge("imu", "run", "handheld.csv", "-o", "handheld_quats.csv", "--compare-filters", "--force")
    if rc:
        return rc
    print("(expected: refused, the gyro is in deg/s)")
    if neuroedge("imu", "run", "impacts_raw_degps.csv", "-o", "impacts_quats.csv", "--force") == 0:
        print("error: a deg/s recording was accepted as rad/s")
        return 1
    rc = neuroedge("imu", "run", "impacts_raw_degps.csv", "-o", "impacts_quats.csv", "--gyro-units", "deg/s",
                   "--force")
    if rc:
        return rc
    save_csv(replace(shaken, gyr=shaken.gyr * [-1.0, 1.0, 1.0]), OUT / "impacts_gx_flipped.csv", reference=False)
    print("wrote impacts_gx_flipped.csv: the same recording in rad/s, its gyro's x axis negated (a wiring mistake)")
    print("(expected: refused, naming the --columns that reads it)")
    if neuroedge("imu", "run", "impacts_gx_flipped.csv", "-o", "impacts_quats.csv", "--force") == 0:
        print("error: a gyro with a negated axis was accepted")
        return 1
    rc = neuroedge("imu", "run", "impacts_gx_flipped.csv", "-o", "impacts_quats.csv", "--columns", "gx=-gx", "--force")
    if rc:
        return rc
    keep = np.ones(len(handheld), bool)
    keep[np.random.default_rng(0).choice(np.arange(1, len(handheld) - 1), 40, replace=False)] = False
    save_csv(replace(handheld, t=handheld.t[keep], acc=handheld.acc[keep], gyr=handheld.gyr[keep], q=handheld.q[keep]),
             OUT / "handheld_dropped.csv")
    print("wrote handheld_dropped.csv: the handheld recording with 40 samples dropped (a logger's hiccups)")
    print("(expected: refused, naming --resample)")
    if neuroedge("imu", "run", "handheld_dropped.csv", "-o", "handheld_quats.csv", "--force") == 0:
        print("error: a recording with dropped samples was taken as evenly sampled")
        return 1
    rc = neuroedge("imu", "run", "handheld_dropped.csv", "-o", "handheld_quats.csv", "--resample", "--force")
    if rc:
        return rc
    names = [_write_sensors(seed) for seed in (21, 22, 23)]
    return neuroedge("imu", "adapt", names[0], names[1], "-o", "adapted.npz", "--check", names[2], "--force")


def _write_sensors(seed: int, rate: float = 100.0, seconds: float = 20.0) -> str:
    """A recording from ``ahrs.Sensors`` (another project's IMU simulator) at its default noise, to CSV."""
    save_csv(ahrs_recording(int(rate * seconds), rate, np.random.default_rng(seed)), OUT / f"sensors{seed}.csv")
    return f"sensors{seed}.csv"

if __name__ == "__main__":
    sys.exit(main())
