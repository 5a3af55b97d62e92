"""Synthetic DVS gestures in tonic's layout, read back by tonic, framed and cached by parameters."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

tonic = pytest.importorskip("tonic")

from neuroedge.data.dvs import (  # noqa: E402
    CLASSES,
    DatasetError,
    FrameParams,
    SyntheticConfig,
    cache_key,
    ensure_local,
    generate_dataset,
    load_frame_set,
    load_frames,
)

# 10 subjects x 1 session x 11 gestures = 110 files per split: just over tonic's 100-file check
SMALL = SyntheticConfig(n_train_subjects=10, n_test_subjects=10, sessions_per_subject=1, duration_s=0.45, seed=3)
FAST = FrameParams(time_window_us=150_000.0)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    r = tmp_path_factory.mktemp("dvs")
    generate_dataset(r, SMALL)
    return r


def test_tonic_reads_the_synthetic_set_without_downloading(root: Path):
    train = tonic.datasets.DVSGesture(str(root), train=True)
    test = tonic.datasets.DVSGesture(str(root), train=False)
    assert len(train) == 110 and len(test) == 110
    assert sorted(set(train.users)) == list(range(1, 11))
    assert sorted(set(test.users)) == list(range(11, 21))  # held-out subjects
    assert set(train.lighting) <= {"fluorescent", "fluorescent_led", "lab", "led", "natural"}
    assert sorted(set(train.targets)) == list(range(len(CLASSES)))
    events, label = train[0]
    assert events.dtype.names == ("x", "y", "p", "t") and 0 <= label < 11
    assert events["x"].max() < 128 and events["y"].max() < 128 and set(np.unique(events["p"])) <= {0, 1}
    assert np.all(np.diff(events["t"]) >= 0)
    assert events["t"].max() > 300_000  # ms on disk, us after tonic's x1000


def test_files_are_tonic_rows_and_generation_is_deterministic(root: Path, tmp_path: Path):
    f = root / "DVSGesture" / "ibmGestureTrain"
    first = sorted(f.glob("*/*.npy"))[0]
    arr = np.load(first)
    assert arr.ndim == 2 and arr.shape[1] == 4 and np.issubdtype(arr.dtype, np.integer)
    assert arr[:, 3].max() <= 450  # t in ms
    again = generate_dataset(tmp_path, SyntheticConfig(n_train_subjects=10, n_test_subjects=10,
                                                       sessions_per_subject=1, duration_s=0.45, seed=3))
    np.testing.assert_array_equal(np.load(again / first.relative_to(root / "DVSGesture")), arr)


def test_rerun_with_same_settings_is_a_noop_and_foreign_folders_are_refused(root: Path, tmp_path: Path):
    some = next((root / "DVSGesture" / "ibmGestureTest").glob("*/*.npy"))
    before = some.stat().st_mtime_ns
    generate_dataset(root, SMALL)
    assert some.stat().st_mtime_ns == before
    (tmp_path / "DVSGesture").mkdir()
    with pytest.raises(FileExistsError, match="not a synthetic set"):
        generate_dataset(tmp_path, SMALL)


def test_gestures_differ_between_classes(root: Path):
    """Mean event positions differ across gestures: e.g. right-arm circles sit left of left-arm ones."""
    ds = tonic.datasets.DVSGesture(str(root), train=True)
    cx = {lab: [] for lab in range(11)}
    for i, lab in enumerate(ds.targets):
        ev, _ = ds[i]
        cx[lab].append(ev["x"].mean())
    right_arm = np.mean(cx[3] + cx[4])
    left_arm = np.mean(cx[5] + cx[6])
    assert right_arm < left_arm - 5


def test_load_frames_shapes_ranges_and_labels(root: Path, tmp_path: Path):
    x, y = load_frames(root, train=True, params=FAST, cache_dir=tmp_path)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.shape[1:] == (2, 32, 32) and len(x) == len(y) >= 110
    assert x.min() >= 0.0 and x.max() == pytest.approx(1.0)
    assert set(np.unique(y)) == set(range(11))
    assert x[:, 1].sum() > 0 and x[:, 0].sum() > 0  # both polarities present


def test_frame_cache_is_keyed_by_transform_parameters(root: Path, tmp_path: Path):
    a = load_frame_set(root, True, FAST, tmp_path)
    assert not a.from_cache and a.cache_file is not None and a.cache_file.exists()
    b = load_frame_set(root, True, FAST, tmp_path)
    assert b.from_cache and b.cache_file == a.cache_file
    np.testing.assert_array_equal(a.x, b.x)
    # a different ToFrame window must not be served from the first cache
    other = FrameParams(time_window_us=75_000.0)
    c = load_frame_set(root, True, other, tmp_path)
    assert not c.from_cache and c.cache_file != a.cache_file
    assert len(c.x) > len(a.x)  # shorter windows: more frames
    # slicing by event count is a different key again
    d = load_frame_set(root, True, FrameParams(time_window_us=None, event_count=1500), tmp_path)
    assert not d.from_cache and len({a.cache_file, c.cache_file, d.cache_file}) == 3
    assert len(list(tmp_path.glob("train-*.npz"))) == 3


def test_frame_cache_is_invalidated_when_a_recording_changes(root: Path, tmp_path: Path):
    k1 = cache_key(root, False, FAST)
    f = next((root / "DVSGesture" / "ibmGestureTest").glob("*/*.npy"))
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    try:
        assert cache_key(root, False, FAST) != k1
    finally:
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache_key(root, False, FAST) == k1


def _write_real_layout(save_to: Path, split: str, users: range, lightings: list[str], dtype) -> None:
    """Files as in tonic's preprocessed DVSGesture download: 6 s recordings, t in ms, no archive."""
    rng = np.random.default_rng(0)
    for u in users:
        for light in lightings:
            folder = save_to / "DVSGesture" / split / f"user{u:02d}_{light}"
            folder.mkdir(parents=True)
            for label in range(11):
                n = 3000
                ev = np.stack([rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n),
                               np.sort(rng.integers(0, 6000, n))], 1).astype(dtype)
                np.save(folder / f"{label}.npy", ev)


def test_real_layout_loads_through_the_same_path(tmp_path: Path):
    _write_real_layout(tmp_path, "ibmGestureTest", range(24, 29), ["fluorescent_led", "lab"], np.int64)
    assert not (tmp_path / "DVSGesture" / "ibmGestureTest.tar.gz").exists()
    params = FrameParams(denoise_us=None, time_window_us=1_000_000.0, min_events=1)
    fs = load_frame_set(tmp_path, False, params, tmp_path / "cache")
    assert (tmp_path / "DVSGesture" / "ibmGestureTest.tar.gz").exists()  # the marker tonic needs
    assert fs.x.shape == (110 * 5, 2, 32, 32)  # 6 s in full 1 s windows (tonic drops the incomplete 6th)
    assert sorted(set(fs.user.tolist())) == [24, 25, 26, 27, 28]


def test_incomplete_real_folder_is_refused_before_tonic_could_download(tmp_path: Path):
    _write_real_layout(tmp_path, "ibmGestureTrain", range(1, 3), ["natural"], np.int32)  # 22 files
    with pytest.raises(DatasetError, match="at least 100"):
        ensure_local(tmp_path, True)
    with pytest.raises(DatasetError, match="no such folder"):
        load_frames(tmp_path / "nothing", True)
