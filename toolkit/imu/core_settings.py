"""The core's parameter vector ``cp`` (layout: ``neuroedge.imu.core``'s doc) from readable settings.

Plain Python, apart from the compiled core, so a change here does not touch numba's cache of it.
"""

from __future__ import annotations

import math

import numpy as np


def core_params(hypotheses: list[tuple[float, ...]], gate_s: float, floor: float,
                sensor_dps: tuple[float, float, float] = (0.01, 0.01, 1.0), acc_var: float = 1e-4,
                fixed_sigma_a: float = -1.0, gate_z: float = 2.0, accel_floor: float = 0.0,
                accel_floor_s: float = 0.5, gyro_noise_s: float = 0.0,
                vel_cap: tuple[float, float, float, float] = (0.0, 5.0, 5.0, 1e9)) -> np.ndarray:
    """``cp`` from readable settings: ``hypotheses`` from the stiffest to the loosest, each ``(c, τ)`` or
    ``(c, τ, floor, z_0)`` (its own floor and the threshold of its gate to the next; by default ``floor``
    and ``gate_z``), one to four, gated over ``gate_s`` seconds; sensor figures in °/s units.
    ``accel_floor`` (0: off) keeps ``σ_a`` at least that multiple of the RMS of ``|f| - g`` over the last
    ``accel_floor_s`` seconds (see ``core_step``); ``gyro_noise_s`` (0: off) measures the gyro's noise
    over that many seconds; ``vel_cap`` is ``(k, leak_s, window_s, κ)``, ``k = 0``: off; each capped member's floor at
    most ``κ`` times the cap (``docs/imu_core.md``)."""
    if not 1 <= len(hypotheses) <= 4:
        raise ValueError(f"the core takes one to four hypotheses, not {len(hypotheses)}")
    if len(vel_cap) != 4:
        raise ValueError(f"vel_cap is (k, leak_s, window_s, floor share), not {vel_cap!r}")
    gn, bw, bi = (math.radians(x) for x in sensor_dps)
    head = [len(hypotheses), gate_s, floor, gn, bw, bi, acc_var, fixed_sigma_a, gate_z, accel_floor, accel_floor_s,
            gyro_noise_s, *vel_cap]
    quads = [(*h, floor, gate_z) if len(h) == 2 else tuple(h) for h in hypotheses]
    return np.array(head + [x for h in quads for x in h], dtype=np.float64)
