"""The core's own bundle format, ``onnx``; the others are declared where they are written.

A format is declared once, with what its manifest must hold, and registered under the
``neuroedge.formats`` entry-point group, so a plugin adds one without editing ``toolkit/``
(see README "Adding a target, a converter or a format"). The built-in converters' formats are in
``neuroedge.converters.formats``.
"""

from __future__ import annotations

from typing import Any

from neuroedge.registry import Format


def torch_from_reference(bundle: Any) -> Any:
    """The eager model recorded in ``manifest.torch_reference`` (a factory + weights, or TorchScript)."""
    import torch

    from neuroedge.bundle import BundleError
    from neuroedge.modelref import import_object, load_state_dict

    ref = bundle.manifest.torch_reference
    if ref is None:
        raise BundleError(
            f"{bundle.path / 'manifest.json'}: no 'torch_reference'; the torch target runs bundles whose "
            "converter recorded the torch model (export-onnx from a torch model, splitquant); an imported ONNX "
            "file has none"
        )
    if ref.kind == "factory":
        model = import_object(ref.factory)(**ref.kwargs)
        if ref.weights:
            model.load_state_dict(load_state_dict(bundle.file(ref.weights)))
        return model.eval()
    return torch.jit.load(str(bundle.file(ref.path)), map_location="cpu").eval()


ONNX = Format("onnx", "an ONNX graph (float, or with Q/DQ nodes), runs in onnxruntime/TensorRT",
              torch_model=torch_from_reference)
