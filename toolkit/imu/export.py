"""Export one streaming step of the attitude model to an ONNX bundle (format ``onnx``, seven inputs).

The step's inputs are the new sample and the carried state; its outputs are the attitude and the next
state, which the caller feeds back on the next call::

    inputs : imu [1,6] (ax ay az m/s², gx gy gz rad/s), rate [1,1] Hz, h [1,H], q [1,4], i [1,7],
             p [1,10,10], buf [1,6,K]
    outputs: q_out [1,4], h_out [1,H], i_out [1,7], p_out [1,10,10], buf_out [1,6,K]

The batch axis is dynamic (named ``batch``), so the same file serves TensorRT's batch profile.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch

from neuroedge.bundle import Bundle, ChainStep, Manifest, TensorSpec, save
from neuroedge.imu.model import INPUT_NAMES, OUTPUT_NAMES, AttitudeCell

EXPORTER = "imu-attitude-export"
VERSION = "0.1.0"


def example_inputs(model: AttitudeCell, batch: int = 1) -> tuple[torch.Tensor, ...]:
    acc = torch.tensor([[0.3, -0.2, 9.7]]).repeat(batch, 1)
    state = model.initial_state(acc)
    imu = torch.cat([acc, torch.tensor([[0.01, -0.02, 0.03]]).repeat(batch, 1)], dim=1)
    return imu, torch.full((batch, 1), 200.0), *state


def export_bundle(model: AttitudeCell, out: str | Path, force: bool = False, opset: int = 17) -> Bundle:
    """Trace one step to ``model.onnx`` and check onnxruntime against torch on the example step."""
    import onnxruntime as ort

    model = model.eval()
    args = example_inputs(model)
    with torch.no_grad():
        expected = [t.numpy() for t in model(*args)]
    dyn = {n: {0: "batch"} for n in (*INPUT_NAMES, *OUTPUT_NAMES)}
    state = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.state_dict().values()))
    report: dict = {}

    def writer(folder: Path) -> None:
        path = folder / "model.onnx"
        with warnings.catch_warnings():
            # torch warns that a GRU exported at batch 1 may not run at other batches unless h0 is an input;
            # h0 is an input here (``h``), and a test runs the file at batch 3.
            warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
            torch.onnx.export(model, args, str(path), input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES), dynamic_axes=dyn, opset_version=opset, dynamo=False)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {n: a.numpy() for n, a in zip(INPUT_NAMES, args, strict=True)})
        report["onnx_max_abs_error"] = float(max(np.max(np.abs(g - e)) for g, e in zip(got, expected, strict=True)))
        if report["onnx_max_abs_error"] > 1e-4:
            raise RuntimeError(f"ONNX differs from torch by {report['onnx_max_abs_error']:.2e}")

    def spec(name: str, t: torch.Tensor) -> TensorSpec:
        return TensorSpec(name, ("batch", *t.shape[1:]), "float32")

    manifest = Manifest(
        format="onnx",
        main="model.onnx",
        inputs=tuple(spec(n, t) for n, t in zip(INPUT_NAMES, args, strict=True)),
        outputs=tuple(spec(n, t) for n, t in zip(OUTPUT_NAMES, expected and [torch.from_numpy(e) for e in expected],
                                                   strict=True)),
        chain=(ChainStep(EXPORTER, VERSION, {"opset": opset, "hidden": model.hidden, "kernel": model.kernel,
                                             "channels": model.channels}, "sha256:" + state.hexdigest()),),
        extra={"mode": "streaming", "state_inputs": list(INPUT_NAMES[2:]), "state_outputs": list(OUTPUT_NAMES[1:])},
    )
    bundle = save(out, manifest, writer, force=force)
    return bundle.with_metrics(**report)
