"""Rebuild the brevitas model a ``splitquant`` bundle was exported from, for the ``torch`` target.

The bundle records ``extra.torch_reference = {"kind": "factory", "factory":
"neuroedge.converters.splitquant.reference:rebuild", "kwargs": {"model": ..., "params": {...}}}``.
Splitting is seeded and the quantisers are deterministic, so the rebuilt model is the one exported.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

FACTORY = "neuroedge.converters.splitquant.reference:rebuild"


class ReferenceMismatch(RuntimeError):
    pass


def rebuild(model: str, params: dict[str, Any], model_hash: str | None = None) -> nn.Module:
    from neuroedge.converters.splitquant.convert import SplitQuantParams, _inputs, _resolve_model
    from neuroedge.converters.splitquant.quantize import quantize_weights
    from neuroedge.converters.splitquant.split import split_layers
    from neuroedge.registry import parse_params

    p = parse_params(SplitQuantParams, params, where="torch_reference.params")
    float_model = _resolve_model(model, p)
    if model_hash is not None:
        from neuroedge.modelref import model_hash as hash_of

        if hash_of(float_model) != model_hash:
            raise ReferenceMismatch(
                f"{model}: rebuilding it gives different weights than the bundle was made from "
                "(a factory without fixed weights initialises randomly); convert with --param weights=..."
            )
    _, calib, _ = _inputs(p)
    fp = split_layers(float_model, p.seed) if p.split else float_model
    calib_t = torch.from_numpy(calib) if calib is not None else None
    return quantize_weights(fp, p.bits, p.scheme, calibration=calib_t, bias_correction=p.bias_correction,
                            mode=p.mode).eval()


def torch_reference(source: Any, params_json: dict[str, Any], model_hash: str) -> dict[str, Any] | None:
    """The manifest entry, or None when the source is an in-memory module (nothing to rebuild from)."""
    if not isinstance(source, str):
        return None
    return {"kind": "factory", "factory": FACTORY,
            "kwargs": {"model": source, "params": params_json, "model_hash": model_hash}}
