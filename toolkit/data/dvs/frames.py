"""DVSGesture recordings -> normalised 2-polarity frames, through tonic, with a frame cache.

The same code reads the real dataset and the synthetic one: both go through
``tonic.datasets.DVSGesture`` and tonic's transforms::

    Denoise(filter_time) -> Downsample(spatial_factor) -> ToFrame(sensor_size, time_window | event_count
    | n_time_bins)

Each frame of a recording becomes one example ``x[i]`` of shape [2, H, W] (channel 0 = OFF,
1 = ON, tonic's order), labelled with the recording's gesture; ``recording[i]`` says which recording
it came from, so per-recording accuracy can be had by voting. Counts are scaled to [0, 1] per frame::

    x = min(count / q, 1),  q = max(quantile_{p}(non-zero counts of the frame), 1)

A robust per-frame scale makes frames from bright and dim lighting comparable, and values in
[0, 1] are what rate-coded SNN conversion expects. Frames with fewer than ``min_events`` events
(a pause between movements) are dropped.

Cache: ``<cache_dir>/<split>-<key>.npz`` with ``key = sha256(params, the files' names, sizes and
mtimes, FRAME_FORMAT)``. Changing any transform parameter, or regenerating the data, gives a new
key, so stale frames are never served (tonic's own DiskCachedDataset keys by index only).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FRAME_FORMAT = 1
MIN_FILES = 100  # tonic's DVSGesture._check_exists threshold


class DatasetError(Exception):
    """The dataset folder is missing, incomplete, or would make tonic try a download."""


@dataclass(frozen=True)
class FrameParams:
    """Event-to-frame settings. Exactly one of time_window_us, event_count, n_time_bins is set."""

    denoise_us: float | None = 10_000.0  # tonic Denoise filter_time; None skips it
    spatial_factor: float = 0.25  # 128 -> 32
    time_window_us: float | None = 200_000.0
    event_count: int | None = None
    n_time_bins: int | None = None
    overlap: float = 0.0
    quantile: float = 0.95
    min_events: int = 30

    def __post_init__(self) -> None:
        chosen = [v for v in (self.time_window_us, self.event_count, self.n_time_bins) if v is not None]
        if len(chosen) != 1:
            raise ValueError("set exactly one of time_window_us, event_count, n_time_bins")

    def sensor_size(self) -> tuple[int, int, int]:
        from tonic.datasets import DVSGesture

        w, h, p = DVSGesture.sensor_size
        return int(w * self.spatial_factor), int(h * self.spatial_factor), p

    def transform(self):
        """tonic's Compose of Denoise, Downsample and ToFrame for these settings."""
        import tonic.transforms as T

        steps = [T.Denoise(filter_time=self.denoise_us)] if self.denoise_us else []
        steps.append(T.Downsample(spatial_factor=self.spatial_factor))
        steps.append(T.ToFrame(sensor_size=self.sensor_size(), time_window=self.time_window_us,
                               event_count=self.event_count, n_time_bins=self.n_time_bins,
                               overlap=self.overlap))
        return T.Compose(steps)


@dataclass
class FrameSet:
    x: np.ndarray  # float32 [N, 2, H, W] in [0, 1]
    y: np.ndarray  # int64 [N]
    recording: np.ndarray  # int64 [N]: index of the recording (tonic dataset index) of each frame
    user: np.ndarray  # int64 [N]
    cache_file: Path | None = None
    from_cache: bool = False


def split_folder(root: str | os.PathLike[str], train: bool) -> Path:
    return Path(root) / "DVSGesture" / ("ibmGestureTrain" if train else "ibmGestureTest")


def ensure_local(root: str | os.PathLike[str], train: bool) -> None:
    """Make sure tonic will read the files on disk and never download.

    tonic's DVSGesture downloads unless ``<split>.tar.gz`` exists next to a folder of at least 100
    ``.npy`` files. A real set extracted by hand may lack the archive: an empty marker is created.
    """
    folder = split_folder(root, train)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder (expected tonic's DVSGesture layout "
                           f"save_to/DVSGesture/{folder.name}/userNN_<lighting>/<label>.npy)")
    n = sum(1 for _ in folder.glob("*/*.npy"))
    if n < MIN_FILES:
        raise DatasetError(f"{folder}: {n} .npy files, tonic needs at least {MIN_FILES} or it tries to download")
    marker = folder.with_name(folder.name + ".tar.gz")
    if not marker.exists():
        marker.touch()


def _fingerprint(folder: Path) -> list[tuple[str, int, int]]:
    out = []
    for p in sorted(folder.glob("*/*.npy")):
        st = p.stat()
        out.append((p.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    return out


def cache_key(root: str | os.PathLike[str], train: bool, params: FrameParams) -> str:
    blob = json.dumps({"format": FRAME_FORMAT, "params": asdict(params),
                       "files": _fingerprint(split_folder(root, train))}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def normalise(frames: np.ndarray, quantile: float) -> np.ndarray:
    """Per frame: counts / max(quantile of its non-zero counts, 1), clipped to 1. frames: [T, P, H, W]."""
    out = np.zeros(frames.shape, np.float32)
    for i, f in enumerate(frames):
        nz = f[f > 0]
        if nz.size:
            out[i] = np.minimum(f / max(float(np.quantile(nz, quantile)), 1.0), 1.0)
    return out


def frames_from_dataset(root: str | os.PathLike[str], train: bool, params: FrameParams,
                        progress: Callable[[int, int], None] | None = None) -> FrameSet:
    """Run tonic's loader and transforms over one split (no cache)."""
    from tonic.datasets import DVSGesture

    ensure_local(root, train)
    ds = DVSGesture(str(root), train=train, transform=params.transform())
    xs, ys, recs, users = [], [], [], []
    for i in range(len(ds)):
        frames, label = ds[i]
        frames = np.asarray(frames)
        keep = frames.reshape(len(frames), -1).sum(1) >= params.min_events
        frames = frames[keep]
        xs.append(normalise(frames, params.quantile))
        ys += [label] * len(frames)
        recs += [i] * len(frames)
        users += [ds.users[i]] * len(frames)
        if progress:
            progress(i + 1, len(ds))
    h, w = params.sensor_size()[1], params.sensor_size()[0]
    x = np.concatenate(xs) if xs else np.zeros((0, 2, h, w), np.float32)
    return FrameSet(x.astype(np.float32), np.asarray(ys, np.int64), np.asarray(recs, np.int64),
                    np.asarray(users, np.int64))


def load_frame_set(root: str | os.PathLike[str], train: bool, params: FrameParams | None = None,
                   cache_dir: str | os.PathLike[str] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> FrameSet:
    """Frames of one split, from the cache when its key matches, else computed and cached.

    ``cache_dir`` defaults to ``<root>/frames-cache``; ``cache_dir=""`` skips the cache. A cache file
    whose stored parameters differ from ``params`` (a hash collision, a hand-edited file) is recomputed.
    """
    params = params or FrameParams()
    ensure_local(root, train)
    if cache_dir == "":
        return frames_from_dataset(root, train, params, progress)
    cdir = Path(cache_dir) if cache_dir is not None else Path(root) / "frames-cache"
    key = cache_key(root, train, params)
    path = cdir / f"{'train' if train else 'test'}-{key}.npz"
    if path.exists():
        with np.load(path) as z:
            if json.loads(str(z["params"])) == asdict(params):
                return FrameSet(z["x"], z["y"], z["recording"], z["user"], path, from_cache=True)
    fs = frames_from_dataset(root, train, params, progress)
    cdir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, x=fs.x, y=fs.y, recording=fs.recording, user=fs.user,
                        params=json.dumps(asdict(params)))
    os.replace(tmp, path)
    fs.cache_file = path
    return fs


def load_frames(root: str | os.PathLike[str], train: bool, params: FrameParams | None = None,
                cache_dir: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x float32 [N, 2, 32, 32] in [0, 1], y int64 [N])`` of one split; see :func:`load_frame_set`."""
    fs = load_frame_set(root, train, params, cache_dir)
    return fs.x, fs.y
