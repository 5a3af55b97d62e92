"""Write a synthetic DVS gesture set in tonic's on-disk DVSGesture layout.

Layout (the same as the real, preprocessed set that ``tonic.datasets.DVSGesture`` reads)::

    root/DVSGesture/ibmGestureTrain.tar.gz          # empty marker: tonic then skips the download
    root/DVSGesture/ibmGestureTrain/user01_led/0.npy # (N, 4) int32: x, y, p, t (t in ms)
    ...
    root/DVSGesture/ibmGestureTest/user13_natural/10.npy
    root/DVSGesture/synthetic.json                   # what made it; a rerun with the same settings is a no-op

Subjects ``1..n_train`` are the training set and the next ``n_test`` are held out, as the real set
holds out users 24-29. Each subject records every gesture once per lighting session. Each
recording gets its own RNG stream, ``SeedSequence([seed, user, session, label])``, so a recording
does not change when the set grows.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .camera import CameraParams, pixel_thresholds
from .gestures import CLASSES
from .scene import LIGHTINGS, SENSOR, RecordingSpec, render_events, sample_subject

GENERATOR_VERSION = 1
SPLIT_FOLDERS = {True: "ibmGestureTrain", False: "ibmGestureTest"}


@dataclass(frozen=True)
class SyntheticConfig:
    n_train_subjects: int = 12
    n_test_subjects: int = 4
    sessions_per_subject: int = 3  # lighting conditions per subject = samples per class per subject
    duration_s: float = 1.2
    dt_ms: float = 10.0
    # scales the spread of subject and recording variation (position, size, speed, wobble, circle
    # shape) and the chance of a moving distractor; 1.0 puts the gesture CNN at 85-90% per frame
    difficulty: float = 1.0
    seed: int = 0
    camera: CameraParams = field(default_factory=CameraParams)

    def __post_init__(self) -> None:
        if not 1 <= self.sessions_per_subject <= len(LIGHTINGS):
            raise ValueError(f"sessions_per_subject must be 1..{len(LIGHTINGS)} (one per lighting)")
        for split, n in (("train", self.n_train_subjects), ("test", self.n_test_subjects)):
            if n * self.sessions_per_subject * len(CLASSES) < 100:
                raise ValueError(
                    f"{split}: {n} subjects x {self.sessions_per_subject} sessions x 11 gestures < 100 files; "
                    "tonic's DVSGesture wants at least 100 .npy files per split or it tries to download")


def _recording_rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def generate_dataset(root: str | os.PathLike[str], config: SyntheticConfig | None = None,
                     progress: Callable[[int, int], None] | None = None) -> Path:
    """Generate (or reuse) the synthetic set under ``root/DVSGesture``; returns that folder.

    Refuses to write into a DVSGesture folder it did not make (a real dataset stays untouched).
    ``progress(done, total)`` is called after each recording.
    """
    cfg = config or SyntheticConfig()
    base = Path(root) / "DVSGesture"
    stamp = {"generator_version": GENERATOR_VERSION, "config": asdict(cfg)}
    manifest = base / "synthetic.json"
    if base.exists():
        if not manifest.exists():
            raise FileExistsError(f"{base} exists and is not a synthetic set made here; refusing to overwrite it")
        if json.loads(manifest.read_text()) == stamp:
            return base
        shutil.rmtree(base)
    tmp = base.with_name(base.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)

    lighting_names = sorted(LIGHTINGS)
    sensor_rng = _recording_rng(cfg.seed, 0)
    # one camera for the whole set: its threshold mismatch and hot pixels are fixed
    thresholds = pixel_thresholds(SENSOR * SENSOR, cfg.camera, sensor_rng)
    hot_pixels = sensor_rng.choice(SENSOR * SENSOR, cfg.camera.hot_pixels, replace=False)
    n_users = cfg.n_train_subjects + cfg.n_test_subjects
    total, done = n_users * cfg.sessions_per_subject * len(CLASSES), 0
    for user in range(1, n_users + 1):
        subj_rng = _recording_rng(cfg.seed, 1, user)
        subject = sample_subject(user, subj_rng, cfg.difficulty)
        sessions = subj_rng.choice(lighting_names, cfg.sessions_per_subject, replace=False)
        split = tmp / SPLIT_FOLDERS[user <= cfg.n_train_subjects]
        for s_idx, light in enumerate(sessions):
            folder = split / f"user{user:02d}_{light}"
            folder.mkdir(parents=True, exist_ok=True)
            for label in range(len(CLASSES)):
                rng = _recording_rng(cfg.seed, 2, user, s_idx, label)
                spec = RecordingSpec(label, subject, LIGHTINGS[str(light)], cfg.duration_s, cfg.dt_ms,
                                     cfg.difficulty)
                np.save(folder / f"{label}.npy", render_events(spec, cfg.camera, thresholds, hot_pixels, rng))
                done += 1
                if progress:
                    progress(done, total)
    for split in SPLIT_FOLDERS.values():
        (tmp / f"{split}.tar.gz").touch()  # tonic checks only that the archive exists (md5=None)
    (tmp / "synthetic.json").write_text(json.dumps(stamp, indent=1))
    tmp.rename(base)
    return base
