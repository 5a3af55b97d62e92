"""Generate the synthetic DVS gesture set and train the gesture CNN on it, with fixed seeds.

    .venv/bin/python examples/gesture_snn/train.py [--epochs 24] [--seed 0] [--force]

Writes (all under .cache/gesture_snn/, gitignored):

* ``data/DVSGesture/...``: the synthetic recordings in tonic's DVSGesture layout;
* ``frames/{train,test}-<key>.npz``: the frames, cached by transform parameters;
* ``gesture_cnn.pt``: the trained state_dict (read it with ``model.load_trained``);
* ``gesture_cnn.json``: accuracies on the held-out subjects and the settings that made them;
* ``calibration.npy``: 500 training frames [500, 2, 32, 32] for the to-snn converter's normalisation.

Training runs on one torch thread: on a shared 2-core machine two threads were 10x slower here
(spin-waiting threads), and one thread costs about 1 ms per frame and epoch.

Each frame (200 ms of events) is one example; the test accuracy is per frame on subjects never
seen in training, and per recording by summing the logits of its frames.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from examples.gesture_snn.model import gesture_cnn  # noqa: E402
from neuroedge.data.dvs import FrameParams, FrameSet, SyntheticConfig, generate_dataset, load_frame_set  # noqa: E402

CACHE = Path(".cache/gesture_snn")
DATA_ROOT = CACHE / "data"
FRAME_CACHE = CACHE / "frames"
WEIGHTS = CACHE / "gesture_cnn.pt"
CALIBRATION = CACHE / "calibration.npy"


def _progress(label: str):
    """A rich progress bar as a ``progress(done, total)`` callback, plus a function to close it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
    prog.start()
    task = prog.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        prog.update(task, completed=done, total=total)

    return update, prog.stop


def prepare_data(config: SyntheticConfig | None = None, params: FrameParams | None = None,
                 root: Path = DATA_ROOT, frame_cache: Path = FRAME_CACHE,
                 quiet: bool = False) -> tuple[FrameSet, FrameSet]:
    """Generate (or reuse) the synthetic set, then the train and test frames (cached)."""
    cfg, params = config or SyntheticConfig(), params or FrameParams()
    steps = [("generating recordings", lambda cb: generate_dataset(root, cfg, cb)),
             ("train frames (tonic)", lambda cb: load_frame_set(root, True, params, frame_cache, cb)),
             ("test frames (tonic)", lambda cb: load_frame_set(root, False, params, frame_cache, cb))]
    out = []
    for label, fn in steps:
        cb, stop = _progress(label) if not quiet else (None, lambda: None)
        try:
            out.append(fn(cb))
        finally:
            stop()
    return out[1], out[2]


def shift_augment(x: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translation of the whole batch by up to max_shift pixels (zero padded)."""
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def evaluate(model: nn.Module, fs: FrameSet) -> dict[str, float]:
    """Per-frame accuracy, and per-recording accuracy from the summed logits of its frames (percent)."""
    model.eval()
    with torch.inference_mode():
        logits = torch.cat([model(b) for b in torch.from_numpy(fs.x).split(512)]).numpy()
    frame_acc = float((logits.argmax(1) == fs.y).mean() * 100)
    recs = np.unique(fs.recording)
    votes = np.stack([logits[fs.recording == r].sum(0) for r in recs])
    labels = np.array([fs.y[fs.recording == r][0] for r in recs])
    return {"frame_accuracy": frame_acc, "recording_accuracy": float((votes.argmax(1) == labels).mean() * 100),
            "n_frames": int(len(fs.y)), "n_recordings": int(len(recs))}


def train(train_set: FrameSet, epochs: int = 24, seed: int = 0, lr: float = 3e-3,
          on_epoch=None, factory=gesture_cnn) -> nn.Module:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(train_set, epochs, seed, lr, on_epoch, factory)
    finally:
        torch.set_num_threads(threads)


def _train(train_set: FrameSet, epochs: int, seed: int, lr: float, on_epoch, factory=gesture_cnn) -> nn.Module:
    torch.manual_seed(seed)
    model = factory()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * ((len(train_set.y) + 63) // 64))
    x, y = torch.from_numpy(train_set.x), torch.from_numpy(train_set.y)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(shift_augment(x[idx], g)), y[idx]).backward()
            opt.step()
            sched.step()
        if on_epoch:
            on_epoch(epoch + 1, epochs)
    return model.eval()


def ensure_trained(epochs: int = 24, seed: int = 0, force: bool = False, quiet: bool = False,
                   config: SyntheticConfig | None = None, params: FrameParams | None = None) -> Path:
    """Train once and cache; returns the state_dict path. Retrains when the data settings change."""
    cfg, params = config or SyntheticConfig(seed=seed), params or FrameParams()
    meta_path = WEIGHTS.with_suffix(".json")
    settings = {"epochs": epochs, "seed": seed, "data": asdict(cfg), "frames": asdict(params)}
    if not force and WEIGHTS.exists() and meta_path.exists() and CALIBRATION.exists():
        if json.loads(meta_path.read_text()).get("settings") == settings:
            return WEIGHTS
    t0 = time.perf_counter()
    train_set, test_set = prepare_data(cfg, params, quiet=quiet)
    t_data = time.perf_counter() - t0
    cb, stop = _progress("training CNN") if not quiet else (None, lambda: None)
    try:
        model = train(train_set, epochs, seed, on_epoch=cb)
    finally:
        stop()
    metrics = {"test": evaluate(model, test_set), "train": evaluate(model, train_set),
               "data_seconds": round(t_data, 1), "train_seconds": round(time.perf_counter() - t0 - t_data, 1)}
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = WEIGHTS.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, WEIGHTS)
    meta_path.write_text(json.dumps({"settings": settings, "metrics": metrics}, indent=1))
    pick = np.random.default_rng(seed).choice(len(train_set.y), min(500, len(train_set.y)), replace=False)
    tmp = CALIBRATION.with_name("calibration.tmp.npy")
    np.save(tmp, train_set.x[np.sort(pick)])
    os.replace(tmp, CALIBRATION)
    return WEIGHTS


def prepare() -> None:
    """Pipeline hook: generate the data, train the CNN and write the calibration frames, once."""
    ensure_trained()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--difficulty", type=float, default=SyntheticConfig.difficulty)
    ap.add_argument("--force", action="store_true", help="retrain even if cached weights match the settings")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    path = ensure_trained(args.epochs, args.seed, args.force,
                          config=SyntheticConfig(seed=args.seed, difficulty=args.difficulty))
    meta = json.loads(path.with_suffix(".json").read_text())["metrics"]
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"gesture CNN on held-out subjects ({time.perf_counter() - t0:.0f} s)")
    for col in ("split", "frames", "recordings", "frame acc %", "recording acc %"):
        table.add_column(col)
    for split in ("train", "test"):
        m = meta[split]
        table.add_row(split, str(m["n_frames"]), str(m["n_recordings"]), f"{m['frame_accuracy']:.1f}",
                      f"{m['recording_accuracy']:.1f}")
    Console().print(table)
    print(f"weights: {path}")


if __name__ == "__main__":
    main()
