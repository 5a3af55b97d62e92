"""Evaluation data for the digits pipelines: the fixed held-out split of sklearn's digits."""

from __future__ import annotations

import numpy as np

from neuroedge.data.digits import as_images, load_digits_split


def test_set() -> tuple[np.ndarray, np.ndarray]:
    """Flat [N, 64] inputs for the MLP."""
    _, _, x, y = load_digits_split()
    return x, y


def test_images() -> tuple[np.ndarray, np.ndarray]:
    """[N, 1, 8, 8] inputs for the CNN."""
    _, _, x, y = load_digits_split()
    return as_images(x), y
