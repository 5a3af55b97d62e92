"""A recording whose timestamps are not even (a logger that drops samples, a phone's jittery sensor clock),
put on an even grid at its median rate: ``neuroedge imu run --resample``.

The model steps at one rate, so without this a dropped sample is refused (``recording.sampling_rate``) and
jitter is taken as even. Each sensor column is interpolated linearly onto ``t_0 + k / rate``; a reference
quaternion likewise, its sign made continuous first (``q`` and ``-q`` are one attitude, and interpolating
between them would pass through zero), then normalised; a reference dropout stays one. A gap longer than
``MAX_GAP_S`` is refused all the same: across it, interpolation would invent the motion.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from neuroedge.imu import quaternion as quat
from neuroedge.imu.families import ImuSequence

MAX_GAP_S = 0.1  # longest step interpolated across: 20 samples at 200 Hz, a few dropped at a phone's 50 Hz
JITTER_NOTE = 0.05  # timestamps whose steps spread more than this share of a step get a note (run) or are evened


def jitter(t: np.ndarray) -> float:
    """The spread of the time steps (their standard deviation) as a share of the median step."""
    dt = np.diff(t)
    return float(np.std(dt) / np.median(dt))


def _continuous(q: np.ndarray) -> np.ndarray:
    """``q`` with each row's sign flipped where it turned from the previous row's (a dropout keeps the sign)."""
    q = q.copy()
    dots = np.nan_to_num(np.sum(q[1:] * q[:-1], axis=1), nan=1.0)
    q[1:] *= np.cumprod(np.where(dots < 0, -1.0, 1.0))[:, None]
    return q


def even_grid(seq: ImuSequence) -> ImuSequence:
    """``seq`` on an even grid from its first timestamp, at the rate its steps give; ``meta["resampled"]`` says
    what changed. (Gaps over ``MAX_GAP_S`` are refused when the timestamps are read: ``recording.sampling_rate``.)"""
    t_rel = seq.t - seq.t[0]
    dt = np.diff(t_rel)
    # The rate from every step, each a whole number of median steps (a dropped sample is two): the median
    # alone is off by a few 0.1% under jitter, a drift of tens of ms over a recording.
    steps = np.maximum(np.round(dt * seq.rate_hz), 1.0)
    rate = float(steps.sum() / t_rel[-1])
    n = int(np.floor(t_rel[-1] * rate + 1e-6)) + 1
    grid = np.arange(n) / rate

    def interp(x: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(grid, t_rel, x[:, k]) for k in range(x.shape[1])], axis=1)

    q = None if seq.q is None else quat.normalize(interp(_continuous(seq.q)))
    info = {"rows_read": len(seq), "rows": n, "largest_step_s": float(dt.max()),
            "jitter": jitter(seq.t)}
    return replace(seq, t=seq.t[0] + grid, acc=interp(seq.acc), gyr=interp(seq.gyr), q=q, rate_hz=rate,
                   meta={**seq.meta, "resampled": info})


def note(seq: ImuSequence, path: str | Path, resampled: bool) -> list[str]:
    """What the user should know about the timestamps: how they were evened, or that they jitter."""
    if resampled:
        r = seq.meta["resampled"]
        return [f"{path}: resampled {r['rows_read']} rows onto {r['rows']} at an even {seq.rate_hz:.2f} Hz (linear; "
                f"the largest step read {r['largest_step_s']:.4g} s, the steps spread {100 * r['jitter']:.1f}% of one); "
                "the output's t is the even grid"]
    spread = jitter(seq.t)
    if spread > JITTER_NOTE:
        return [f"{path}: column 't': the time steps spread {100 * spread:.0f}% of a step; the model takes them as "
                f"even at {seq.rate_hz:.2f} Hz (--resample puts the samples on an even grid)"]
    return []
