"""Shared fixtures. Tests run from the repo root (examples/ importable via pytest's pythonpath)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    # Model references like examples.digits.models:digits_mlp resolve from the repo root.
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="session")
def mlp_bundle(tmp_path_factory: pytest.TempPathFactory):
    """An (untrained) digits MLP exported to ONNX once per session."""
    from neuroedge.converters.export_onnx import CONVERTER, ExportParams

    os.chdir(REPO)
    out = tmp_path_factory.mktemp("bundles") / "mlp"
    return CONVERTER.convert("examples.digits.models:digits_mlp", ExportParams(input_shape=(1, 64)), out)


def digits_files(folder: Path, images: bool = False) -> tuple[str, str]:
    """sklearn digits as calibration (train split) and held-out check (test split) .npz files."""
    from neuroedge.data.digits import save_split

    cal, check = save_split(folder, images)
    return str(cal), str(check)


def small_snn_model():
    """A seeded conv -> pool -> strided conv -> dense ReLU network, (2, 6, 6) in, 3 out: the SNN tests'
    small network for both neuron kinds, in both simulators."""
    import torch
    from torch import nn

    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(6 * 2 * 2, 12), nn.ReLU(), nn.Linear(12, 3),
    ).eval()
