"""Whether the gyro's axes are the accelerometer's: a sign flipped or two axes swapped in a user's columns.

A mislabelled axis is the commonest IMU wiring mistake, and no range or unit check sees it: the values
are plausible, only their directions are wrong. The gyro then turns the attitude the wrong way about
that axis, and every figure after it is off by as much as the device tilts.

The test is ``neuroedge.imu.gyro_units``' prediction of gravity's direction over quarter-second windows,
run for each of the 48 signed permutations of the gyro's columns. With the axes right, the declared
order fits at least about as well as any other, except where linear acceleration, not turning, moves
gravity's direction: a walker's gait. So:
- refused, with the ``--columns`` that reads it: another order fits ``REFUSE_MARGIN`` (2x) better, and
  fits well (its miss at most ``EXPLAINED`` (half) of the miss of no rotation at all, so turning is what
  moves gravity's direction here);
- a note: another order fits ``NOTE_MARGIN`` (1.5x) better, or nearly as well as a second one (within
  ``UNIQUE``, so the data cannot say which), or the recording tilts too little to tell.
The windows are those in which gravity's direction moves (``gyro_units.windows``): until 2026-12-04 every
window counted, and a recording still most of the time (put down between bursts) went unchecked.
Which sensor is off, the data cannot always say. An accelerometer miswired alone looks like a proper rotation
of the gyro (the rate is a pseudovector: ``A(ω × f) = det(A) (Aω × Af)``), so an order that mirrors (det -1)
is the gyro's, and a proper one may be either sensor's: the refusal says so, and names the gyro's fix.
The margins came from validation seeds; the first design had no ``EXPLAINED`` term, and on test
recordings it refused one right walking recording (2.44x). On validation (136 recordings tilting 3° or
more, 40 of them walking) the right order's fit against the best other was at most 1.45x, and the walker's
best fit at least 0.55 of no rotation (``benchmarks/imu_axes.py`` measures both designs; README).
"""

from __future__ import annotations

import itertools

import numpy as np

from neuroedge.imu.gyro_units import EXPLAINED, TOO_LITTLE, WINDOW_S, _angle_deg, _turn, windows

REFUSE_MARGIN = 2.0
UNIQUE = 1.05  # a refusal names one order: the next best must miss at least this much more
NOTE_MARGIN = 1.5
AXES = ("gx", "gy", "gz")


def signed_permutations() -> list[np.ndarray]:
    """The 48 matrices ``M`` with one ±1 per row and column (``M @ ω``: a relabelled gyro), identity first."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[np.arange(3), perm] = signs
            out.append(m)
    return out


def axes_errors(acc: np.ndarray, gyr: np.ndarray, rate: float) -> tuple[np.ndarray, float]:
    """Median miss (deg) of gravity's predicted direction for each ``signed_permutations()`` order, and
    the median tilt per window (how much there is to predict)."""
    win = windows(acc, gyr, rate)
    if win is None:
        return np.zeros(0), 0.0
    start, w, measured = win
    misses = [float(np.median(_angle_deg(_turn(start, w @ m.T, 1.0 / rate), measured)))
              for m in signed_permutations()]
    return np.asarray(misses), float(np.median(_angle_deg(start, measured)))


def columns_fix(m: np.ndarray, names: dict[str, str]) -> str:
    """The ``--columns`` that reads the gyro as ``m @ ω``; ``names``: the file's column for each of ours
    (a leading ``-``: already negated)."""
    items = []
    for r, ours in enumerate(AXES):
        c = int(np.flatnonzero(m[r])[0])
        theirs = names.get(AXES[c], AXES[c])
        negative = (m[r, c] < 0) != theirs.startswith("-")
        if negative or theirs.lstrip("-") != ours:
            items.append(f"{ours}={'-' if negative else ''}{theirs.lstrip('-')}")
    return ",".join(items)


def gyro_axes_verdict(acc: np.ndarray, gyr: np.ndarray, rate: float,
                      names: dict[str, str]) -> tuple[str | None, str | None]:
    """``(refusal, note)``: the reason to refuse (another order fits ``REFUSE_MARGIN`` better), or a note
    (``NOTE_MARGIN`` better, or too little tilt to tell); both None when the declared axes fit."""
    misses, tilt = axes_errors(acc, gyr, rate)
    return decide(misses, tilt, names)


def decide(misses: np.ndarray, tilt: float, names: dict[str, str]) -> tuple[str | None, str | None]:
    """``gyro_axes_verdict`` from ``axes_errors``' output."""
    if misses.size == 0:
        return None, f"gyro axes not checked against the accelerometer's: {TOO_LITTLE}"
    best = int(np.argmin(misses))
    ratio = misses[0] / max(misses[best], 1e-9)
    if best == 0 or ratio < NOTE_MARGIN:
        return None, None
    order = signed_permutations()[best]
    fix = columns_fix(order, names)
    detail = (f"gravity's direction predicted from the gyro over {WINDOW_S:g} s windows misses by "
              f"{misses[0]:.1f}° with the columns as they are, {misses[best]:.1f}° read as {fix}")
    runner_up = float(np.partition(misses, 1)[1])  # an order nearly as good: the data cannot tell which is right
    if ratio >= REFUSE_MARGIN and misses[best] <= EXPLAINED * tilt and runner_up >= UNIQUE * misses[best]:
        which = "the gyro's columns" if np.linalg.det(order) < 0 else \
            "the gyro's columns (or the accelerometer's)"
        return (f"columns gx,gy,gz: the gyro's axes do not match the accelerometer's ({detail}); a sign or the "
                f"order of {which} is wrong: pass --columns {fix} to read the gyro to match (if they are right, "
                f"--skip-unit-check runs it as it is)"), None
    return None, f"the gyro's axes may not match the accelerometer's ({detail}); if so, pass --columns {fix}"
