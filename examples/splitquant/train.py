"""Train the SplitQuant example models with fixed seeds; state_dicts are cached in .cache/splitquant/.

    .venv/bin/python examples/splitquant/train.py [--models digits_mlp,tiny_transformer] [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.splitquant.models import MODELS, ExampleModel  # noqa: E402
from neuroedge.modelref import import_object, load_state_dict  # noqa: E402

CACHE = ROOT / ".cache" / "splitquant"


def build(spec: ExampleModel) -> nn.Module:
    return import_object(spec.factory)()


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    model.eval()
    with torch.inference_mode():
        pred = torch.cat([model(b).argmax(1) for b in torch.from_numpy(x).split(512)]).numpy()
    return float((pred == y).mean() * 100)


def train(spec: ExampleModel, seed: int = 0, epochs: int | None = None) -> tuple[nn.Module, float]:
    """Adam(W), batch 64, cross-entropy, cosine learning rate; returns (model, test accuracy %)."""
    torch.manual_seed(seed)
    x_tr, y_tr, x_te, y_te = spec.data(seed)
    model = build(spec)
    epochs = spec.epochs if epochs is None else epochs
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    steps = epochs * ((len(xt) + 63) // 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
            sched.step()
    model.eval()
    return model, accuracy(model, x_te, y_te)


def weights_path(name: str, cache: Path = CACHE) -> Path:
    return cache / f"{name}.pt"


def ensure_trained(name: str, cache: Path = CACHE, force: bool = False) -> Path:
    """Train once (fixed seed) and cache the state_dict; returns its path."""
    if MODELS[name].weights is not None:  # trained by its own example, with its own recipe and cache
        return MODELS[name].weights()
    path = weights_path(name, cache)
    if force or not path.exists():
        model, _ = train(MODELS[name])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(model.state_dict(), tmp)
        tmp.replace(path)
    return path


def load_trained(name: str, cache: Path = CACHE) -> nn.Module:
    """The trained model in eval mode (trained and cached first if needed)."""
    model = build(MODELS[name])
    model.load_state_dict(load_state_dict(ensure_trained(name, cache)))
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated names")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--force", action="store_true", help="retrain even if cached")
    args = ap.parse_args()
    for name in args.models.split(","):
        path = ensure_trained(name, args.cache, args.force)
        spec = MODELS[name]
        _, _, x_te, y_te = spec.data(0)
        print(f"{name}: test accuracy {accuracy(load_trained(name, args.cache), x_te, y_te):.2f}% -> {path}")


def prepare_transformer() -> None:
    """For pipeline configs (``model.prepare``): train and cache the transformer if needed."""
    ensure_trained("tiny_transformer")


def prepare_cnn() -> None:
    ensure_trained("digits_cnn")


if __name__ == "__main__":
    main()
