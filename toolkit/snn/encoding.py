"""How DNN inputs become input spikes: deterministic rate coding, identical in Lava and snn-fast.

Choice and why. Each input value x becomes a firing probability ``p = clip(x / input_scale, 0, 1)``,
quantised to 8 bits, ``q = round(256 p)``, and emitted as **binary** spikes by an
integrate-and-fire accumulator that starts half full::

    acc_0 = 128;   acc_t = acc_{t-1} + q;   spike_t = acc_t >= 256;   acc_t -= 256 * spike_t
    =>  spike_t = floor((128 + (t+1) q) / 256) - floor((128 + t q) / 256)

so over T steps an input emits ``round(T q / 256)`` spikes, as evenly spaced as possible. Binary
events (``num_message_bits = 0``) run on Loihi 1 and Loihi 2 alike, cost one synaptic event per
spike (graded spikes would send every input every step), and are what an event camera gives.
Being deterministic, the same sample always yields the same spikes, so Lava and the fast simulator
can be compared spike for spike. The host computes the trains once and both simulators play them.

Layout: images (B, C, H, W) become Lava's XYC order (B, W, H, C) flattened; vectors stay as they are.
"""

from __future__ import annotations

import numpy as np

RATE_BITS = 8


def to_xyc(x: np.ndarray) -> np.ndarray:
    """(B, C, H, W) -> (B, W*H*C) in Lava's XYC order; (B, n) is returned flat."""
    x = np.asarray(x)
    if x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 3, 2, 1)).reshape(x.shape[0], -1)
    return x.reshape(x.shape[0], -1)


def rate_levels(x: np.ndarray, input_scale: float) -> np.ndarray:
    """Quantised firing probabilities q in [0, 256] (int32), shape (B, n) in XYC order."""
    p = np.clip(to_xyc(x).astype(np.float64) / float(input_scale), 0.0, 1.0)
    return np.rint(p * (1 << RATE_BITS)).astype(np.int32)


def encode(x: np.ndarray, input_scale: float, steps: int) -> np.ndarray:
    """Binary input spikes, shape (B, steps, n), dtype bool (see the module docstring)."""
    q = rate_levels(x, input_scale).astype(np.int64)
    t = np.arange(steps + 1, dtype=np.int64)[None, :, None]
    acc = (128 + t * q[:, None, :]) >> RATE_BITS  # floor((128 + t q) / 256)
    return (acc[:, 1:] - acc[:, :-1]).astype(bool)
