"""Train the digits MLP and CNN with fixed seeds; weights go to .cache/digits/<name>.pt (state_dicts).

    .venv/bin/python examples/digits/train.py [--epochs 30] [--out .cache/digits]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from examples.digits.models import digits_cnn, digits_mlp  # noqa: E402
from neuroedge.data.digits import as_images, load_digits_split  # noqa: E402

FACTORIES = {"digits_mlp": digits_mlp, "digits_cnn": digits_cnn}


def _inputs(name: str, x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(as_images(x) if name == "digits_cnn" else x)


def accuracy(model: nn.Module, name: str, x: np.ndarray, y: np.ndarray) -> float:
    with torch.inference_mode():
        pred = model(_inputs(name, x)).argmax(1).numpy()
    return float((pred == y).mean() * 100)


def train(name: str, epochs: int = 30, seed: int = 0) -> tuple[nn.Module, float]:
    torch.manual_seed(seed)
    x_tr, y_tr, x_te, y_te = load_digits_split(seed)
    model = FACTORIES[name]()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = _inputs(name, x_tr), torch.from_numpy(y_tr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    return model, accuracy(model, name, x_te, y_te)


def ensure_trained(name: str, cache: Path = Path(".cache/digits"), epochs: int = 30) -> Path:
    """Train once and cache: returns the state_dict path."""
    path = cache / f"{name}.pt"
    if not path.exists():
        model, _ = train(name, epochs)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(model.state_dict(), tmp)
        tmp.replace(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path(".cache/digits"))
    args = ap.parse_args()
    for name in FACTORIES:
        model, acc = train(name, args.epochs)
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), args.out / f"{name}.pt")
        print(f"{name}: test accuracy {acc:.2f}% -> {args.out / (name + '.pt')}")


def prepare_mlp() -> None:
    """Pipeline hook: train and cache the MLP once."""
    ensure_trained("digits_mlp")


def prepare_cnn() -> None:
    """Pipeline hook: train and cache the CNN once."""
    ensure_trained("digits_cnn")


if __name__ == "__main__":
    main()
