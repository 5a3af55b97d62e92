"""A recording simulated by another project's IMU simulator, ``ahrs.Sensors`` (a dependency of the package).

Used where data must not come from our own generator (``neuroedge.imu.families``): the demo, the tests of
``neuroedge imu adapt`` and ``neuroedge.imu.reference``, and the independent benchmark
(``benchmarks/imu_foreign.py``). Its accelerometer sees gravity alone (no linear acceleration); its
default noise is far above a consumer part's (a gyro about 50x noisier).
"""

from __future__ import annotations

import numpy as np

from neuroedge.imu.families import ImuSequence


def ahrs_recording(n: int, rate: float, rng: np.random.Generator, meta: dict | None = None,
                   **noise: float) -> ImuSequence:
    """``n`` samples at ``rate`` Hz with its reference (body -> world, z up); ``noise``: ``Sensors``'s own
    options (``gyr_noise`` in deg/s, ``acc_noise`` in m/s², per sample), its defaults where not given."""
    from ahrs import Sensors

    sim = Sensors(num_samples=n, freq=rate, rng=rng, **noise)
    return ImuSequence(np.arange(n) / rate, np.asarray(sim.accelerometers, dtype=np.float64),
                       np.asarray(sim.gyroscopes, dtype=np.float64), np.asarray(sim.quaternions, dtype=np.float64),
                       rate, dict(meta or {}))
