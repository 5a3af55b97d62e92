"""The gesture CNN of the DVS-gesture SNN example, and its trained weights.

Input: one frame, [1, 2, 32, 32] float32 in [0, 1] (channel 0 OFF, 1 ON events of a 200 ms window,
denoised, downsampled 128 -> 32 and scaled per frame; see ``neuroedge.data.dvs.frames``). Output:
11 logits, tonic's DVSGesture classes.

Only layers a rate-coded DNN->SNN conversion maps one to one: Conv2d, AvgPool2d, Flatten, Linear,
ReLU (biases kept, no MaxPool, no BatchNorm, no Dropout)::

    conv 2->16 3x3 . relu . avgpool 2      32x32 -> 16x16
    conv 16->32 3x3 . relu . avgpool 2     16x16 -> 8x8
    conv 32->32 3x3 . relu . avgpool 2      8x8  -> 4x4
    flatten 512 . linear 64 . relu . linear 11
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

INPUT_SHAPE = (1, 2, 32, 32)
N_CLASSES = 11
DEFAULT_WEIGHTS = Path(".cache/gesture_snn/gesture_cnn.pt")


def gesture_cnn() -> nn.Module:
    """A fresh (untrained) gesture CNN; input [N, 2, 32, 32]."""
    return nn.Sequential(
        nn.Conv2d(2, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, N_CLASSES),
    )


def gesture_cnn_variant(c1: int = 16, c2: int = 32, c3: int = 32, stride1: int = 1) -> nn.Module:
    """The gesture CNN's family for the Loihi 1 core budget: channel widths, and a strided first conv
    (``stride1=2``) in place of the first pool. ``gesture_cnn_variant()`` is ``gesture_cnn()``."""
    first = [nn.Conv2d(2, c1, 3, stride=stride1, padding=1), nn.ReLU()]
    if stride1 == 1:
        first.append(nn.AvgPool2d(2))
    return nn.Sequential(
        *first,
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(c3 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, N_CLASSES),
    )


def load_trained(path: str | os.PathLike[str] | None = None, variant: dict | None = None) -> nn.Module:
    """The trained CNN in eval mode, from ``path`` (default .cache/gesture_snn/gesture_cnn.pt).

    Run ``examples/gesture_snn/train.py`` first; the file is a plain state_dict read with
    ``weights_only=True``. ``variant``: ``gesture_cnn_variant``'s arguments (the core-budget model).
    """
    from neuroedge.modelref import load_state_dict

    p = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no trained gesture CNN; run .venv/bin/python examples/gesture_snn/train.py")
    model = gesture_cnn_variant(**variant) if variant else gesture_cnn()
    model.load_state_dict(load_state_dict(p))
    return model.eval()


def example_input(seed: int = 0) -> torch.Tensor:
    return torch.rand(INPUT_SHAPE, generator=torch.Generator().manual_seed(seed))
