"""The gesture CNN: conversion-friendly layers, shapes, weights round trip, and a short training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from examples.gesture_snn.model import INPUT_SHAPE, N_CLASSES, example_input, gesture_cnn, load_trained
from examples.gesture_snn.train import evaluate, shift_augment, train
from neuroedge.data.dvs import FrameSet

ALLOWED = (nn.Conv2d, nn.AvgPool2d, nn.Flatten, nn.Linear, nn.ReLU)


def test_only_layers_a_rate_coded_conversion_maps_one_to_one():
    model = gesture_cnn()
    leaves = [m for m in model.modules() if not list(m.children())]
    assert leaves and all(isinstance(m, ALLOWED) for m in leaves), [type(m).__name__ for m in leaves]
    assert model(example_input()).shape == (1, N_CLASSES)
    assert INPUT_SHAPE == (1, 2, 32, 32)


def test_load_trained_round_trip_and_missing_file(tmp_path: Path):
    model = gesture_cnn()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    loaded = load_trained(tmp_path / "w.pt")
    assert not loaded.training
    x = example_input(1)
    torch.testing.assert_close(loaded(x), model.eval()(x))
    with pytest.raises(FileNotFoundError, match="train.py"):
        load_trained(tmp_path / "missing.pt")


def test_shift_augment_moves_content_without_wrapping():
    x = torch.zeros(1, 2, 32, 32)
    x[0, 1, 0, 0] = 1.0
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        y = shift_augment(x, g)
        assert y.sum() <= 1.0 and (y.sum() == 0 or y[0, 1, :3, :3].sum() == 1.0)


def test_training_learns_separable_frames():
    """A few epochs on frames with class-specific blobs: far above chance (1/11)."""
    rng = np.random.default_rng(0)
    n = 330
    y = np.repeat(np.arange(N_CLASSES), n // N_CLASSES)
    x = np.zeros((n, 2, 32, 32), np.float32)
    for i, lab in enumerate(y):
        r, c = 2 + 6 * (lab % 5), 3 + 10 * (lab // 5)  # 6 px apart: the +-2 px shift keeps them apart
        x[i, lab % 2, r:r + 4, c:c + 4] = 1.0
    x += rng.uniform(0, 0.2, x.shape).astype(np.float32)
    fs = FrameSet(np.clip(x, 0, 1), y.astype(np.int64), np.arange(n), np.zeros(n, np.int64))
    model = train(fs, epochs=8, seed=0)
    assert evaluate(model, fs)["frame_accuracy"] > 60
