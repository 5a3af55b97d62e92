"""Train the streaming attitude model on synthetic disturbed IMU data (fixed seeds), tune its core, cache both.

Two stages, each with a well-posed objective:

1. **The network** learns ``log σ_a``: how strong the linear acceleration is now (RMS per axis over a
   centred ``target_window_s`` window), with a direct loss against the generator's true linear
   acceleration (``meta["linear_acc_world"]``). Truncated back-propagation in streaming form: a batch of
   long sequences is stepped chunk by chunk, the GRU state carried across chunks (detached). Model
   selection on the validation split's loss.
2. **The core's three settings** (``σ_v = c·σ_a + floor``, and ``τ_v``) are a grid search on the validation
   split's tilt error, all grid points run as one batch. The fixed-noise core (network bypassed, one
   constant ``σ_v``) is tuned the same way: the ablation that shows what the network adds.

Why not end to end through the Kalman filter: the previous core's truncated BPTT through 5 s chunks never
beat its initial gains (1.20° on validation); the network's job here is a quantity the data knows exactly.

    .venv/bin/python examples/imu_attitude/train.py            # prints the validation curve

Weights (and the tuned core, in the state dict) are cached under ``.cache/imu_attitude/`` keyed by the
settings; a second run loads them.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from neuroedge.imu.baselines import score
from neuroedge.imu.families import ImuConfig, ImuSequence, generate, generate_split
from neuroedge.imu.model import MODEL_VERSION, AttitudeCell, build_model

CACHE_DIR = Path(".cache/imu_attitude")
TRAIN_SEED_BASE = 0  # training uses seeds [0, 100000); validation and test splits start at 100000 / 200000
TARGET_FLOOR = 0.05  # m/s²: the target is log(σ_a + floor), so quiet stretches do not dominate the loss


def settings_key(settings: object, model_version: int) -> str:
    """A short hash of a training dataclass plus the model's code version: the weights' cache key."""
    blob = json.dumps({**asdict(settings), "model_version": model_version}, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1200  # optimiser steps (one per chunk): fixed, so a run is reproducible on any machine
    budget_s: float = 900.0  # a wall-clock cap on top, for slow or shared machines (then fewer steps)
    batch: int = 16
    duration_s: float = 40.0
    rates_hz: tuple[float, ...] = (150.0, 200.0, 250.0)  # 100 Hz is kept out, as an unseen rate
    chunk: int = 1000
    lr: float = 3e-3  # peak; cosine decay to lr/20 over ``steps``
    select_every: int = 25  # score the validation loss every N steps and keep the best weights (0: off)
    target_window_s: float = 1.0
    hidden: int = 32
    kernel: int = 8
    channels: int = 4
    seed: int = 0
    n_val: int = 3
    val_duration_s: float = 30.0
    c_grid: tuple[float, ...] = (0.8, 1.1, 1.5, 2.0)  # σ_v per σ_a (s)
    floor_grid: tuple[float, ...] = (0.01, 0.03, 0.1)  # m/s
    tau_grid: tuple[float, ...] = (0.1, 0.15, 0.2, 0.3)  # τ_v (s)
    fixed_sigma_grid: tuple[float, ...] = (0.5, 0.7, 1.0, 1.5, 2.0)  # the ablation's constant σ_v (m/s)
    imu: ImuConfig = field(default_factory=ImuConfig)

    def key(self) -> str:
        """Cache key: the settings plus the model's code version (a changed cell must not load old weights)."""
        return settings_key(self, MODEL_VERSION)


def _batch(seqs: Sequence[ImuSequence]) -> tuple[torch.Tensor, ...]:
    acc = torch.tensor(np.stack([s.acc for s in seqs]), dtype=torch.float32)
    gyr = torch.tensor(np.stack([s.gyr for s in seqs]), dtype=torch.float32)
    q = torch.tensor(np.stack([s.q for s in seqs]), dtype=torch.float32)
    rate = torch.full((len(seqs), 1), float(seqs[0].rate_hz))
    return acc, gyr, q, rate


def disturbance_target(seq: ImuSequence, window_s: float = 1.0) -> np.ndarray:
    """``log(σ_a + floor)`` ``[N, 1]``: RMS per axis of the true linear acceleration over a centred window."""
    from scipy.ndimage import uniform_filter1d

    power = (seq.meta["linear_acc_world"] ** 2).sum(axis=1) / 3.0
    width = max(1, int(round(window_s * seq.rate_hz)))
    sigma = np.sqrt(np.maximum(uniform_filter1d(power, width, mode="nearest"), 0.0))
    return np.log(sigma + TARGET_FLOOR)[:, None]


def _targets(seqs: Sequence[ImuSequence], window_s: float) -> torch.Tensor:
    return torch.tensor(np.stack([disturbance_target(s, window_s) for s in seqs]), dtype=torch.float32)


def train_network(config: TrainConfig, model: AttitudeCell,
                  progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Stage 1: the disturbance head, ``config.steps`` optimiser steps (fewer if ``budget_s`` runs out)."""
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(k, config.steps) / config.steps)))
    val = generate_split("val", config.n_val, replace(config.imu, duration_s=config.val_duration_s))
    val_batch = _batch(val)
    val_target = _targets(val, config.target_window_s)
    history: list[dict] = []
    start = time.perf_counter()
    step = pass_no = 0
    best: tuple[float, int, dict] | None = None

    def select() -> float:
        nonlocal best
        model.eval()
        with torch.no_grad():
            acc, gyr, _, rate = val_batch
            loss = float(((model.disturbance(acc, gyr, rate)[0] - val_target) ** 2).mean())
        model.train()
        if best is None or loss < best[0]:
            best = (loss, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
        return loss

    def done() -> bool:
        return step >= config.steps or time.perf_counter() - start >= config.budget_s

    history.append({"step": 0, "val_loss": select(), "elapsed_s": 0.0})
    model.train()
    while not done():
        rate = config.rates_hz[pass_no % len(config.rates_hz)]
        imu_cfg = replace(config.imu, rate_hz=rate, duration_s=config.duration_s)
        seqs = [generate(TRAIN_SEED_BASE + pass_no * config.batch + j, imu_cfg) for j in range(config.batch)]
        acc, gyr, _, rate_t = _batch(seqs)
        target = _targets(seqs, config.target_window_s)
        state = model.initial_state(acc[:, 0])
        for t0 in range(0, acc.shape[1], config.chunk):
            if done():
                break
            sl = slice(t0, t0 + config.chunk)
            pred, h, buf = model.disturbance(acc[:, sl], gyr[:, sl], rate_t, state)
            state = (h.detach(), *state[1:-1], buf.detach())
            loss = ((pred - target[:, sl]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            rec = {"step": step, "pass": pass_no, "rate_hz": rate, "loss": float(loss.detach()),
                   "elapsed_s": time.perf_counter() - start}
            if config.select_every and step % config.select_every == 0:
                rec["val_loss"] = select()
            history.append(rec)
            if progress:
                progress(rec)
        pass_no += 1
    final = select()
    assert best is not None
    model.load_state_dict(best[2])
    history.append({"step": step, "val_loss": final, "selected_step": best[1], "best_val_loss": best[0],
                    "elapsed_s": time.perf_counter() - start})
    return history


@torch.no_grad()
def _grid_errors(model: AttitudeCell, seqs: Sequence[ImuSequence], tau_v: float,
                 sigma_v: torch.Tensor) -> np.ndarray:
    """Mean validation tilt error for each of ``G`` settings ``sigma_v [G, B, T, 1]``, run as one batch."""
    acc, gyr, _, rate = _batch(seqs)
    g = sigma_v.shape[0]
    old = model.kf.clone()
    model.kf[2] = tau_v
    try:
        q, _ = model.run_sequence(acc.repeat(g, 1, 1), gyr.repeat(g, 1, 1), rate.repeat(g, 1),
                                  sigma_v=sigma_v.flatten(0, 1))
    finally:
        model.kf.copy_(old)
    q = q.double().numpy().reshape(g, len(seqs), *q.shape[1:])
    return np.array([np.mean([score(q[k, j], s)["tilt_deg"] for j, s in enumerate(seqs)]) for k in range(g)])


@torch.no_grad()
def tune_core(model: AttitudeCell, config: TrainConfig,
              log: Callable[[str], None] | None = None) -> dict:
    """Stage 2: grid search of ``(c, floor, τ_v)`` and of the fixed-noise ablation on the validation split."""
    torch.set_num_threads(1)
    model.eval()
    val = generate_split("val", config.n_val, replace(config.imu, duration_s=config.val_duration_s))
    acc, gyr, _, rate = _batch(val)
    sigma_a = torch.exp(model.disturbance(acc, gyr, rate)[0])  # [B, T, 1]
    pairs = list(itertools.product(config.c_grid, config.floor_grid))
    best: dict = {}
    fixed_best: dict = {}
    for tau in config.tau_grid:
        sv = torch.stack([c * sigma_a + f for c, f in pairs])
        for (c, f), err in zip(pairs, _grid_errors(model, val, tau, sv), strict=True):
            if log:
                log(f"core c={c} floor={f} tau_v={tau}: {err:.3f}°")
            if not best or err < best["val_tilt_deg"]:
                best = {"c": c, "floor": f, "tau_v": tau, "val_tilt_deg": float(err)}
        fixed = torch.tensor(config.fixed_sigma_grid).view(-1, 1, 1, 1).expand(-1, *sigma_a.shape)
        for s, err in zip(config.fixed_sigma_grid, _grid_errors(model, val, tau, fixed), strict=True):
            if log:
                log(f"fixed-noise core sigma_v={s} tau_v={tau}: {err:.3f}°")
            if not fixed_best or err < fixed_best["val_tilt_deg"]:
                fixed_best = {"sigma_v": s, "tau_v": tau, "val_tilt_deg": float(err)}
    model.set_core(best["c"], best["floor"], best["tau_v"])
    return {"core": best, "fixed_core": fixed_best}


def train(config: TrainConfig = TrainConfig(),  # noqa: B008 - frozen
          progress: Callable[[dict], None] | None = None) -> tuple[AttitudeCell, list[dict], dict]:
    """Both stages; the model, the network's loss history and the tuned core."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(1)  # tiny per-step ops: one thread is faster and leaves the other core free
    model = build_model(config.hidden, config.kernel, config.channels)
    history = train_network(config, model, progress)
    core = tune_core(model, config)
    model.eval()
    return model, history, core


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
    model, history, core = train(config, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pt.tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)
    curve = [{"step": r["step"], "val_loss": r["val_loss"]} for r in history if "val_loss" in r]
    steps = max((r["step"] for r in history), default=0)
    meta = {"config": asdict(config), "steps": steps, "history": history[-50:], "validation_curve": curve,
            "selected": history[-1] if history and "selected_step" in history[-1] else None, **core,
            "train_seconds": history[-1]["elapsed_s"] if history else 0.0, "weights": str(path)}
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1, default=str))
    tmp.replace(meta_path)
    return model, meta


@torch.no_grad()
def predict(model: AttitudeCell, seqs: Sequence[ImuSequence], fixed_sigma_v: float | None = None,
            tau_v: float | None = None) -> list[np.ndarray]:
    """Quaternions ``[N, 4]`` per sequence, stepping sequences of equal rate and length together.

    ``fixed_sigma_v`` (with its ``tau_v``) bypasses the network: the fixed-noise ablation.
    """
    torch.set_num_threads(1)
    out: list[np.ndarray | None] = [None] * len(seqs)
    groups: dict[tuple[float, int], list[int]] = {}
    for idx, s in enumerate(seqs):
        groups.setdefault((float(s.rate_hz), len(s)), []).append(idx)
    old = model.kf.clone()
    if tau_v is not None:
        model.kf[2] = tau_v
    try:
        for members in groups.values():
            acc, gyr, _, rate = _batch([seqs[i] for i in members])
            sv = None if fixed_sigma_v is None else torch.full((*acc.shape[:2], 1), float(fixed_sigma_v))
            q, _ = model.run_sequence(acc, gyr, rate, sigma_v=sv)
            for j, i in enumerate(members):
                out[i] = q[j].double().numpy()
    finally:
        model.kf.copy_(old)
    return [o for o in out if o is not None]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--budget-s", type=float, default=TrainConfig.budget_s)
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    config = TrainConfig(steps=args.steps, budget_s=args.budget_s)

    def show(rec: dict) -> None:
        if "val_loss" in rec:
            print(f"step {rec['step']:4d}  validation loss {rec['val_loss']:.4f}  {rec['elapsed_s']:.0f}s", flush=True)

    _, meta = load_or_train(config, progress=show, retrain=args.retrain)
    print(f"weights: {meta['weights']} ({meta['steps']} steps; selected: {meta['selected']})")
    print(f"core: {meta['core']}\nfixed-noise core (ablation): {meta['fixed_core']}")


if __name__ == "__main__":
    main()
