"""Export the window attitude model to an ONNX bundle (format ``onnx``, two inputs), checked in onnxruntime.

    inputs : imu [batch, W, 6] (ax ay az m/s², gx gy gz rad/s; last row = the label's sample), rate [batch, 1] Hz
    outputs: q [batch, 4] (w, x, y, z, unit norm)

The ``export-onnx`` converter takes one input tensor, and this model has two (the window and the sampling
rate, as in Golroudbari & Sabour), so the bundle is written here with the same pieces the converter uses:
torch's TorchScript exporter at opset 17, a dynamic batch axis, an onnxruntime check against torch, and a
ChainStep recording the settings and the weights' hash.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch

from examples.imu_attitude.window_model import INPUT_NAMES, OUTPUT_NAMES, WindowAttitudeNet
from neuroedge.bundle import Bundle, ChainStep, Manifest, TensorSpec, save

EXPORTER = "imu-window-export"
VERSION = "0.1.0"
OPSET = 17


def example_inputs(model: WindowAttitudeNet, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A plausible window: gravity plus noise on the accel, small rates on the gyro, at 200 Hz."""
    gen = torch.Generator().manual_seed(seed)
    acc = torch.tensor([0.8, -0.5, 9.7]) + 0.5 * torch.randn(batch, model.window, 3, generator=gen)
    gyr = 0.3 * torch.randn(batch, model.window, 3, generator=gen)
    return torch.cat([acc, gyr], dim=-1), torch.full((batch, 1), 200.0)


def weights_hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.state_dict().values()))
    return "sha256:" + h.hexdigest()


def export_window_bundle(model: WindowAttitudeNet, out: str | Path, force: bool = False,
                         opset: int = OPSET, atol: float = 1e-4) -> Bundle:
    """Trace the model to ``model.onnx``; onnxruntime must match torch within ``atol`` on two windows."""
    import onnxruntime as ort

    model = model.eval()
    args = example_inputs(model, batch=2)
    with torch.no_grad():
        expected = model(*args).numpy()
    report: dict = {}

    def writer(folder: Path) -> None:
        path = folder / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and LSTM batch-first notices
            torch.onnx.export(model, args, str(path), input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                              dynamic_axes={n: {0: "batch"} for n in (*INPUT_NAMES, *OUTPUT_NAMES)},
                              opset_version=opset, dynamo=False)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {n: a.numpy() for n, a in zip(INPUT_NAMES, args, strict=True)})[0]
        err = float(np.max(np.abs(got - expected)))
        if not np.isfinite(err) or err > atol:
            raise RuntimeError(f"onnxruntime differs from torch by {err:.2e} (> {atol})")
        report["onnx_max_abs_error"] = err

    manifest = Manifest(
        format="onnx",
        main="model.onnx",
        inputs=(TensorSpec("imu", ("batch", model.window, 6)), TensorSpec("rate", ("batch", 1))),
        outputs=(TensorSpec("q", ("batch", 4)),),
        chain=(ChainStep(EXPORTER, VERSION, {"opset": opset, "window": model.window, "block": model.block,
                                             "channels": model.channels, "hidden": model.hidden},
                         weights_hash(model)),),
        extra={"mode": "window", "window_samples": model.window, "label": "last sample of the window"},
    )
    return save(out, manifest, writer, force=force).with_metrics(**report)
