"""Packed integer weights: INT2 four to a byte, INT4 two, and they rebuild brevitas' weights exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuroedge.converters.splitquant import quantize_weights, split_layers
from neuroedge.converters.splitquant.pack import pack_codes, read_packed, unpack_codes, write_packed
from neuroedge.converters.splitquant.quantize import quant_layers


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("signed", [False, True])
def test_pack_round_trip_and_size(bits, signed):
    rng = np.random.default_rng(bits)
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    codes = rng.integers(lo, hi, size=1001)
    packed = pack_codes(codes, bits)
    assert packed.dtype == np.uint8 and len(packed) == -(-1001 * bits // 8)
    assert np.array_equal(unpack_codes(packed, bits, 1001, signed), codes)


def test_int2_is_four_per_byte():
    assert len(pack_codes(np.arange(8) % 4, 2)) == 2
    assert list(pack_codes(np.array([0, 1, 2, 3]), 2)) == [0b00011011]


@pytest.mark.parametrize("bits,scheme", [(2, "asym-per-channel"), (4, "paper"), (8, "paper"), (3, "sym-per-channel")])
def test_packed_file_rebuilds_the_quantised_weights(tmp_path, bits, scheme):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(144, 10))
    q = quantize_weights(split_layers(model), bits, scheme)
    layers = quant_layers(q)
    info = write_packed(tmp_path / "w.npz", layers)
    n_weights = sum(m.weight.numel() for m in layers.values())
    assert info["packed_weight_bytes"] == sum(-(-m.weight.numel() * bits // 8) for m in layers.values())
    assert info["packed_weight_bytes"] <= n_weights * bits / 8 + len(layers)
    rebuilt = read_packed(tmp_path / "w.npz")
    assert set(rebuilt) == set(layers)
    for name, layer in layers.items():
        want = layer.quant_weight().value.detach().numpy()
        assert np.allclose(rebuilt[name], want, atol=1e-6 * np.abs(want).max()), name
