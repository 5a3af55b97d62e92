"""Seeded 1-D k-means (k = 3) over a layer's weights, as SplitQuant clusters them.

Given the flattened values ``w``, k-means picks centres ``c_0 < c_1 < c_2`` minimising
``sum_i min_j (w_i - c_j)^2``. In 1-D the clusters are intervals, cut at the midpoints
``b_0 = (c_0 + c_1) / 2`` and ``b_1 = (c_1 + c_2) / 2``; the masks are (as in the authors' code)

    lower  = w <= b_0,   middle = b_0 < w < b_1,   upper = w >= b_1.

The three masks partition the values, so ``w = w*lower + w*middle + w*upper`` exactly.

Lloyd's iterations run on the sorted values with prefix sums, so each costs O(log n): a 1-D special
case that is exact, fast and free of thread pools (scikit-learn's KMeans took seconds per layer on a
loaded 2-core machine). The k-means++ initialisation draws from ``numpy.random.default_rng(seed)``, and
the best of ``n_init`` runs (lowest inertia) is kept, so the same seed gives the same split.
"""

from __future__ import annotations

import numpy as np

K = 3


def distinct_count(values: np.ndarray, limit: int = K) -> int:
    """How many distinct values ``values`` holds, counting no further than ``limit``."""
    return min(len(np.unique(values)), limit)


def _lloyd(x: np.ndarray, csum: np.ndarray, csq: np.ndarray, centres: np.ndarray, iters: int):
    """Lloyd's algorithm on sorted ``x`` from ``centres``; returns (centres, inertia)."""
    n = len(x)
    for _ in range(iters):
        cuts = np.concatenate(([0], np.searchsorted(x, (centres[:-1] + centres[1:]) / 2, side="right"), [n]))
        counts = np.diff(cuts)
        sums = csum[cuts[1:]] - csum[cuts[:-1]]
        new = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
        if np.array_equal(new, centres):
            break
        centres = new
    cuts = np.concatenate(([0], np.searchsorted(x, (centres[:-1] + centres[1:]) / 2, side="right"), [n]))
    counts = np.diff(cuts)
    sums = csum[cuts[1:]] - csum[cuts[:-1]]
    sq = csq[cuts[1:]] - csq[cuts[:-1]]
    inertia = float(np.sum(sq - 2 * centres * sums + counts * centres**2))
    return centres, inertia


def _kmeans_pp(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    centres = [x[rng.integers(len(x))]]
    for _ in range(K - 1):
        d2 = np.min((x[:, None] - np.asarray(centres)[None, :]) ** 2, axis=1)
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())])
    return np.sort(np.asarray(centres))


def cluster_boundaries(values: np.ndarray, seed: int = 0, n_init: int = 3, iters: int = 300) -> tuple[float, float]:
    """The two cut points ``(b_0, b_1)`` of a seeded k=3 k-means over ``values`` (any shape)."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if distinct_count(x) < K:
        raise ValueError(f"k-means with k={K} needs at least {K} distinct values")
    csum = np.concatenate(([0.0], np.cumsum(x)))
    csq = np.concatenate(([0.0], np.cumsum(x * x)))
    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(n_init):
        centres, inertia = _lloyd(x, csum, csq, _kmeans_pp(x, rng), iters)
        if inertia < best_inertia:
            best, best_inertia = centres, inertia
    c = np.sort(best)
    return float((c[0] + c[1]) / 2), float((c[1] + c[2]) / 2)


def cluster_masks(values: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks (lower, middle, upper) of ``values``' shape that partition it."""
    b0, b1 = cluster_boundaries(values, seed)
    lower = values <= b0
    upper = values >= b1
    middle = ~(lower | upper)
    return lower, middle, upper
