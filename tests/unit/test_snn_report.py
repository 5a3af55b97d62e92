"""The layer report: rates are measured over the steps a layer actually receives input."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from neuroedge.converters.snn import convert_model
from neuroedge.converters.snn.report import format_report, layer_report
from neuroedge.snn import encoding
from neuroedge.targets.loihi import fast


def _identity_net() -> nn.Module:
    """x -> relu(I x) -> linear: layer 0's rate must equal the input's normalised value."""
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(16))
        model[0].bias.zero_()
        model[2].weight.copy_(torch.randn(2, 16, generator=torch.Generator().manual_seed(0)))
        model[2].bias.zero_()
    return model.eval()


def test_layer_rates_are_not_inflated_by_the_pipeline_delay() -> None:
    rng = np.random.default_rng(0)
    calib = rng.uniform(0, 1, (500, 16)).astype(np.float32)
    x = rng.uniform(0, 1, (300, 16)).astype(np.float32)
    conv = convert_model(_identity_net(), calib)
    t = 8  # short, so dividing layer 0's count over T + depth - 1 = 9 steps by T would read 12.5% high
    res = fast.simulate(conv.network, encoding.encode(x, conv.input_scale, t + conv.network.depth))
    rows = layer_report(conv.float_layers, conv.input_scale, x, res.counts, res.readout, t)
    first = rows[0]
    assert abs(first["snn_mean"] - first["dnn_mean"]) < 0.01 * first["dnn_mean"] + 0.005, first
    assert first["correlation"] > 0.99 and first["correlation_clipped"] >= first["correlation"] - 1e-4
    assert "corr<=1" in format_report(rows)
