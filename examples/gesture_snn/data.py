"""Data hooks of the gesture pipeline: test frames (held-out subjects) and calibration frames.

Both come from the frame cache that ``train.py`` fills, so calling them after training costs a
file read; before training they generate the data first.
"""

from __future__ import annotations

import numpy as np

from neuroedge.data.dvs import FrameParams, SyntheticConfig, load_frames


def test_set() -> tuple[np.ndarray, np.ndarray]:
    """``(x [N, 2, 32, 32] float32 in [0, 1], y [N] int64)``: frames of the held-out subjects."""
    from examples.gesture_snn.train import DATA_ROOT, FRAME_CACHE, prepare_data

    prepare_data(SyntheticConfig(), FrameParams(), quiet=True)
    return load_frames(DATA_ROOT, train=False, params=FrameParams(), cache_dir=FRAME_CACHE)


def train_set() -> tuple[np.ndarray, np.ndarray]:
    from examples.gesture_snn.train import DATA_ROOT, FRAME_CACHE, prepare_data

    prepare_data(SyntheticConfig(), FrameParams(), quiet=True)
    return load_frames(DATA_ROOT, train=True, params=FrameParams(), cache_dir=FRAME_CACHE)
