"""Small models on sklearn's digits: the foundation's benchmark models and the quantisation examples."""

from __future__ import annotations

import torch
from torch import nn


def digits_mlp() -> nn.Module:
    """The tiny MLP: 64-128-10, ReLU. Input [1, 64]."""
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def digits_cnn() -> nn.Module:
    """A small CNN. Input [1, 1, 8, 8]: conv 16 -> conv 32 -> avgpool -> dense 64 -> 10."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


INPUT_SHAPES = {"digits_mlp": (1, 64), "digits_cnn": (1, 1, 8, 8)}


def example_input(name: str, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(INPUT_SHAPES[name], generator=g)
