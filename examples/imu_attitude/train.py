"""Train the streaming attitude model on synthetic disturbed IMU data (fixed seed), cache the weights.

Training is truncated back-propagation through time in *streaming* form: a batch of long sequences is
stepped chunk by chunk (``chunk`` samples), the state is carried across chunks (detached), and the weights
are updated after each chunk. So the model is trained exactly as it runs: one call per sample, state carried.

    .venv/bin/python examples/imu_attitude/train.py --steps 120

Weights are cached under ``.cache/imu_attitude/`` keyed by the training settings; a second run loads them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.imu_attitude.model import MODEL_VERSION, AttitudeCell, build_model, tilt_loss  # noqa: E402
from neuroedge.data.imu import ImuConfig, ImuSequence, generate  # noqa: E402

CACHE_DIR = Path(".cache/imu_attitude")
TRAIN_SEED_BASE = 0  # training uses seeds [0, 100000); validation and test splits start at 100000 / 200000


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 120  # optimiser steps (one per chunk): fixed, so a run is reproducible on any machine
    budget_s: float = 900.0  # a wall-clock cap on top, for slow or shared machines (then fewer steps)
    batch: int = 32
    duration_s: float = 40.0
    rates_hz: tuple[float, ...] = (150.0, 200.0, 250.0)  # 100 Hz is kept out, as an unseen rate
    chunk: int = 200
    lr: float = 5e-3
    warmup_s: float = 3.0  # no loss on the first seconds of each sequence (start-up transient)
    hidden: int = 32
    kernel: int = 8
    channels: int = 4
    seed: int = 0
    imu: ImuConfig = field(default_factory=ImuConfig)

    def key(self) -> str:
        """Cache key: the settings plus the model's code version (a changed cell must not load old weights)."""
        blob = json.dumps({**asdict(self), "model_version": MODEL_VERSION}, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _batch(seqs: Sequence[ImuSequence]) -> tuple[torch.Tensor, ...]:
    acc = torch.tensor(np.stack([s.acc for s in seqs]), dtype=torch.float32)
    gyr = torch.tensor(np.stack([s.gyr for s in seqs]), dtype=torch.float32)
    q = torch.tensor(np.stack([s.q for s in seqs]), dtype=torch.float32)
    rate = torch.full((len(seqs), 1), float(seqs[0].rate_hz))
    return acc, gyr, q, rate


def train(config: TrainConfig = TrainConfig(),  # noqa: B008 - frozen
          progress: Callable[[dict], None] | None = None) -> tuple[AttitudeCell, list[dict]]:
    """``config.steps`` optimiser steps (fewer if ``budget_s`` runs out first); the model and a loss history."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(1)  # tiny per-step ops: one thread is faster and leaves the other core free
    model = build_model(config.hidden, config.kernel, config.channels)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    history: list[dict] = []
    start = time.perf_counter()
    step = 0
    pass_no = 0
    def done() -> bool:
        return step >= config.steps or time.perf_counter() - start >= config.budget_s

    while not done():
        rate = config.rates_hz[pass_no % len(config.rates_hz)]
        imu_cfg = replace(config.imu, rate_hz=rate, duration_s=config.duration_s)
        seeds = [TRAIN_SEED_BASE + pass_no * config.batch + j for j in range(config.batch)]
        acc, gyr, q_true, rate_t = _batch([generate(s, imu_cfg) for s in seeds])
        state = model.initial_state(acc[:, 0])
        skip = int(config.warmup_s * rate)
        for t0 in range(0, acc.shape[1], config.chunk):
            if done():
                break
            sl = slice(t0, t0 + config.chunk)
            q_est, state = model.run_sequence(acc[:, sl], gyr[:, sl], rate_t, state)
            state = tuple(s.detach() for s in state)
            keep = max(0, skip - t0)
            if keep >= q_est.shape[1]:
                continue
            loss = tilt_loss(q_est[:, keep:], q_true[:, sl][:, keep:])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            tilt = float(torch.rad2deg(2 * torch.asin(torch.sqrt(loss.detach()).clamp(max=1) / 2)))
            rec = {"step": step, "pass": pass_no, "rate_hz": rate, "loss": float(loss.detach()), "rms_tilt_deg": tilt,
                   "elapsed_s": time.perf_counter() - start}
            history.append(rec)
            if progress:
                progress(rec)
        pass_no += 1
    model.eval()
    return model, history


def load_or_train(config: TrainConfig = TrainConfig(), cache_dir: Path = CACHE_DIR,  # noqa: B008 - frozen
                  progress: Callable[[dict], None] | None = None, retrain: bool = False,
                  ) -> tuple[AttitudeCell, dict]:
    """The cached model for ``config`` if present (loaded with ``weights_only=True``), else train and cache it."""
    path = Path(cache_dir) / f"model-{config.key()}.pt"
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file() and not retrain:
        model = build_model(config.hidden, config.kernel, config.channels)
        model.load_state_dict(torch.load(path, weights_only=True))
        model.eval()
        return model, json.loads(meta_path.read_text())
    model, history = train(config, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    meta = {"config": asdict(config), "steps": len(history), "history": history[-50:],
            "train_seconds": history[-1]["elapsed_s"] if history else 0.0, "weights": str(path)}
    meta_path.write_text(json.dumps(meta, indent=1, default=str))
    return model, meta


@torch.no_grad()
def predict(model: AttitudeCell, seqs: Sequence[ImuSequence]) -> list[np.ndarray]:
    """Quaternions ``[N, 4]`` per sequence, stepping sequences of equal rate and length together."""
    torch.set_num_threads(1)
    out: list[np.ndarray | None] = [None] * len(seqs)
    groups: dict[tuple[float, int], list[int]] = {}
    for idx, s in enumerate(seqs):
        groups.setdefault((float(s.rate_hz), len(s)), []).append(idx)
    for members in groups.values():
        acc, gyr, _, rate = _batch([seqs[i] for i in members])
        q, _ = model.run_sequence(acc, gyr, rate)
        for j, i in enumerate(members):
            out[i] = q[j].double().numpy()
    return [o for o in out if o is not None]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--budget-s", type=float, default=TrainConfig.budget_s)
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    config = TrainConfig(steps=args.steps, budget_s=args.budget_s)

    def show(rec: dict) -> None:
        if rec["step"] % 10 == 0:
            print(f"step {rec['step']:4d}  {rec['rate_hz']:.0f} Hz  rms tilt {rec['rms_tilt_deg']:.2f}°  "
                  f"{rec['elapsed_s']:.0f}s", flush=True)

    _, meta = load_or_train(config, progress=show, retrain=args.retrain)
    print(f"weights: {meta['weights']} ({meta['steps']} steps)")


if __name__ == "__main__":
    main()
