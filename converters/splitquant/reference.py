"""Rebuild the brevitas model a ``splitquant`` bundle was exported from, for the ``torch`` target.

The bundle keeps the float model (``manifest.torch_reference``: the factory and its weights saved in
``torch/weights.pt``, or a TorchScript trace) and the calibration inputs the quantiser saw
(``torch/calibration.npy``). The ``qcdq-onnx`` format's ``torch_model`` (declared through the
registry) calls ``rebuild_bundle``: it splits and quantises that float model again with the
parameters of the bundle's own splitquant chain step (and merges the parts when it says ``merge``).
Splitting is seeded and the quantisers are deterministic, so the rebuilt model is the one exported,
and no code is named by the manifest beyond the user's own model factory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroedge.bundle import BundleError
from neuroedge.manifest import TorchReference

CALIBRATION = "torch/calibration.npy"


def save_reference(source: Any, calibration: np.ndarray | None, folder: Path) -> TorchReference:
    """Write the float model (and the calibration inputs) into ``folder/torch``; the manifest entry."""
    (folder / "torch").mkdir(exist_ok=True)
    if calibration is not None:
        np.save(folder / CALIBRATION, np.ascontiguousarray(calibration, dtype=np.float32))
    ref = source.torch_reference()
    if ref is not None:
        torch.save(source.module.state_dict(), folder / ref.weights)
        return ref
    x = torch.from_numpy(source.example_input(1))
    torch.jit.trace(source.module, x, check_trace=False).save(str(folder / "torch" / "float.ts"))
    return TorchReference("torchscript", path="torch/float.ts")


def rebuild_bundle(bundle: Any) -> nn.Module:
    """The fake-quantised brevitas model of a splitquant bundle (see the module docstring)."""
    from neuroedge.converters.splitquant.params import SplitQuantParams
    from neuroedge.converters.splitquant.quantize import quantize_weights
    from neuroedge.converters.splitquant.split import split_layers
    from neuroedge.formats import torch_from_reference
    from neuroedge.registry import parse_params

    steps = [s for s in bundle.manifest.chain if s.converter == "splitquant"]
    if not steps:
        raise BundleError(f"{bundle.path / 'manifest.json'}: no splitquant step in 'chain' to rebuild from")
    p = parse_params(SplitQuantParams, steps[-1].params, where="chain.splitquant.params")
    float_model = torch_from_reference(bundle)
    calib = None
    if CALIBRATION in bundle.manifest.files:
        calib = torch.from_numpy(np.load(bundle.file(CALIBRATION), allow_pickle=False))
    fp = split_layers(float_model, p.seed) if p.split else float_model
    q = quantize_weights(fp, p.bits, p.scheme, calibration=calib, bias_correction=p.bias_correction,
                         mode=p.mode).eval()
    if p.merge and p.split:  # the deployed form: equal to the three parts up to float summation
        from neuroedge.converters.splitquant.merge import merge_split

        return merge_split(q)[0]
    return q
