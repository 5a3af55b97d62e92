"""Export one streaming step of the attitude model's network to an ONNX bundle, for edge targets.

The Kalman core is not in the graph: it runs compiled on the host CPU (``neuroedge.imu.core``), which is
what made one step cheap (the previous single graph of network and filter was 168 small nodes). The
network step is::

    inputs : imu [1,6] (ax ay az m/s², gx gy gz rad/s), rate [1,1] Hz, h [1,H], buf [1,6,K]
    outputs: log_sigma_a [1,1], h_out [1,H], buf_out [1,6,K]

``h`` and ``buf`` are recurrent state, declared in the manifest (``state``) so a runner carries them from
call to call. The batch axis is dynamic (named ``batch``), so the same file serves TensorRT's batch profile.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch

from neuroedge.bundle import Bundle, ChainStep, Manifest, TensorSpec, save
from neuroedge.imu.network import INPUT_NAMES, OUTPUT_NAMES, DisturbanceNet

EXPORTER = "imu-attitude-export"
VERSION = "0.2.0"


def _state_fields() -> dict:
    """The recurrent state as the manifest's typed ``state`` field (``StatePair``), where this version of
    ``neuroedge.bundle`` has it; else the older ``extra`` keys."""
    extra = {"mode": "streaming", "part": "network (log sigma_a); the Kalman core runs on the host"}
    try:
        from neuroedge.bundle import StatePair
    except ImportError:
        return {"extra": {**extra, "state_inputs": ["h", "buf"], "state_outputs": ["h_out", "buf_out"]}}
    return {"state": (StatePair("h", "h_out"), StatePair("buf", "buf_out")), "extra": extra}


def example_inputs(net: DisturbanceNet, batch: int = 1) -> tuple[torch.Tensor, ...]:
    acc = torch.tensor([[0.3, -0.2, 9.7]]).repeat(batch, 1)
    h, buf = net.initial_state(acc)
    imu = torch.cat([acc, torch.tensor([[0.01, -0.02, 0.03]]).repeat(batch, 1)], dim=1)
    return imu, torch.full((batch, 1), 200.0), h, buf


def export_bundle(net: DisturbanceNet, out: str | Path, force: bool = False, opset: int = 17) -> Bundle:
    """Trace one network step to ``model.onnx`` and check onnxruntime against torch on the example step."""
    import onnxruntime as ort

    net = net.eval()
    args = example_inputs(net)
    with torch.no_grad():
        expected = [t.numpy() for t in net(*args)]
    dyn = {n: {0: "batch"} for n in (*INPUT_NAMES, *OUTPUT_NAMES)}
    state = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in net.state_dict().values()))
    report: dict = {}

    def writer(folder: Path) -> None:
        path = folder / "model.onnx"
        with warnings.catch_warnings():
            # torch warns that a GRU exported at batch 1 may not run at other batches unless h0 is an input;
            # h0 is an input here (``h``), and a test runs the file at batch 3.
            warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
            torch.onnx.export(net, args, str(path), input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES), dynamic_axes=dyn, opset_version=opset, dynamo=False)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {n: a.numpy() for n, a in zip(INPUT_NAMES, args, strict=True)})
        report["onnx_max_abs_error"] = float(max(np.max(np.abs(g - e)) for g, e in zip(got, expected, strict=True)))
        if report["onnx_max_abs_error"] > 1e-4:
            raise RuntimeError(f"ONNX differs from torch by {report['onnx_max_abs_error']:.2e}")

    def spec(name: str, shape: tuple[int, ...]) -> TensorSpec:
        return TensorSpec(name, ("batch", *shape[1:]), "float32")

    manifest = Manifest(
        format="onnx",
        main="model.onnx",
        inputs=tuple(spec(n, tuple(t.shape)) for n, t in zip(INPUT_NAMES, args, strict=True)),
        outputs=tuple(spec(n, e.shape) for n, e in zip(OUTPUT_NAMES, expected, strict=True)),
        chain=(ChainStep(EXPORTER, VERSION, {"opset": opset, "hidden": net.hidden, "kernel": net.kernel,
                                             "channels": net.channels}, "sha256:" + state.hexdigest()),),
        **_state_fields(),
    )
    bundle = save(out, manifest, writer, force=force)
    return bundle.with_metrics(**report)
