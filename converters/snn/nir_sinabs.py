"""Run our NIR file in sinabs 3.1.3 (a real NIR consumer), in its own venv, and compare.

sinabs pins ``nir<=1.0.4`` and needs its own torch, so it lives in ``.venv-sinabs`` (``make
setup-sinabs``) and runs ``sinabs_worker.py`` as a subprocess. ``sinabs_agreement`` gives the
argmax agreement of sinabs with neuroedge's float SNN run with the settings sinabs gets (see
``float_snn.simulate_float(settings="sinabs")``) and with the project's own settings.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from neuroedge.converters.snn.float_snn import simulate_float, xyc_to_torch
from neuroedge.snn.encoding import encode

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("sinabs_worker.py")


def sinabs_python() -> Path:
    env = os.environ.get("NEUROEDGE_SINABS_PYTHON")
    return Path(env) if env else REPO_ROOT / ".venv-sinabs" / "bin" / "python"


def sinabs_status() -> bool | str:
    """True, or the one-line reason sinabs cannot run here, with the fix."""
    if not sinabs_python().exists():
        return f"sinabs venv not found ({sinabs_python()}); run `make setup-sinabs`"
    return True


def run_sinabs(nir_path: Path, spikes: np.ndarray, timeout_s: float = 600.0) -> np.ndarray:
    """Input spikes (B, T, *input_shape, torch layout) -> sinabs' readout (B, n_out)."""
    with tempfile.TemporaryDirectory(prefix="neuroedge-sinabs-") as tmp:
        sp, out = Path(tmp) / "spikes.npy", Path(tmp) / "out.npy"
        np.save(sp, np.ascontiguousarray(spikes, dtype=np.float32))
        proc = subprocess.run([str(sinabs_python()), str(WORKER), str(nir_path), str(sp), str(out)],
                              capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0:
            raise RuntimeError(f"sinabs worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        return np.load(out)


def sinabs_agreement(conv: Any, nir_path: Path, x: np.ndarray, timesteps: int = 64) -> dict[str, float]:
    """Argmax agreement (%) of sinabs on ``nir_path`` with the float SNN, matched and own settings."""
    spikes = encode(x, conv.input_scale, timesteps)
    got = run_sinabs(nir_path, xyc_to_torch(spikes, tuple(x.shape[1:])), ).argmax(1)
    # the file holds the fixed-point network's effective weights: run the float SNN on those
    in_file = [replace(fl, weight=q.effective_weight(), bias=q.effective_bias())
               for fl, q in zip(conv.float_layers, conv.quant_layers, strict=True)]
    matched, _, _ = simulate_float(in_file, x, conv.input_scale, timesteps, settings="sinabs")
    own, _, _ = simulate_float(conv.float_layers, x, conv.input_scale, timesteps + len(conv.float_layers))
    return {"matched_settings": float((got == matched.argmax(1)).mean() * 100),
            "own_settings": float((got == own.argmax(1)).mean() * 100), "n": int(len(x)), "timesteps": timesteps}
