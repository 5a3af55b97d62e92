"""DVS gesture data: a synthetic event-camera gesture generator written in tonic's DVSGesture layout,
and a frame loader (tonic's DVSGesture + Denoise/Downsample/ToFrame) with a parameter-keyed cache.

    from neuroedge.data.dvs import SyntheticConfig, generate_dataset, FrameParams, load_frames
    generate_dataset(".cache/gesture_snn/data", SyntheticConfig(seed=0))
    x, y = load_frames(".cache/gesture_snn/data", train=True, params=FrameParams())
"""

from .camera import CameraParams
from .frames import (
    DatasetError,
    FrameParams,
    FrameSet,
    cache_key,
    ensure_local,
    frames_from_dataset,
    load_frame_set,
    load_frames,
    normalise,
)
from .generate import GENERATOR_VERSION, SyntheticConfig, generate_dataset
from .gestures import CLASSES
from .scene import LIGHTINGS, Lighting

__all__ = [
    "CLASSES", "GENERATOR_VERSION", "LIGHTINGS", "CameraParams", "DatasetError", "FrameParams",
    "FrameSet", "Lighting", "SyntheticConfig", "cache_key", "ensure_local", "frames_from_dataset",
    "generate_dataset", "load_frame_set", "load_frames", "normalise",
]
