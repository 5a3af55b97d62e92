"""sklearn's 8x8 digits, which ship with scikit-learn: an offline dataset for tests and examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_digits_split(seed: int = 0, test_fraction: float = 0.3) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test): x float32 in [0, 1] of shape [N, 64], y int64.

    A stratified split with a fixed seed, so every example and benchmark sees the same test set.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te


def as_images(x: np.ndarray) -> np.ndarray:
    """[N, 64] -> [N, 1, 8, 8], the layout the CNN examples take."""
    return np.ascontiguousarray(x.reshape(-1, 1, 8, 8))


def save_split(folder: str | Path, images: bool = False) -> tuple[Path, Path]:
    """The split as two .npz files (x, y) in the calibration convention: (train, test) paths.

    ``images``: [N, 1, 8, 8] rows (the CNN layout) instead of [N, 64].
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x_tr, y_tr, x_te, y_te = load_digits_split()
    if images:
        x_tr, x_te = as_images(x_tr), as_images(x_te)
    paths = folder / f"digits_train{'_img' if images else ''}.npz", folder / f"digits_test{'_img' if images else ''}.npz"
    for path, x, y in zip(paths, (x_tr, x_te), (y_tr, y_te), strict=True):
        if not path.exists():
            np.savez(path, x=x, y=y)
    return paths
