"""Merged SplitQuant: one layer per original layer equals the three quantised parts; codebooks round-trip."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from neuroedge.converters.splitquant import quantize_weights, split_layers
from neuroedge.converters.splitquant.merge import (
    byte_report,
    codebook,
    from_codebook,
    levels_per_channel,
    merge_split,
)
from neuroedge.converters.splitquant.split import SplitLayer


def _models() -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(64, 96), nn.ReLU(), nn.Linear(96, 10))
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2), nn.ReLU(),
                        nn.Flatten(), nn.Linear(8 * 3 * 3, 10))
    conv1d = nn.Sequential(nn.Conv1d(3, 6, 5, padding=2, dilation=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 16, 4))
    return [("mlp", mlp, (32, 64)), ("cnn", cnn, (16, 1, 8, 8)), ("conv1d", conv1d, (8, 3, 16))]


@pytest.mark.parametrize(("bits", "scheme"), [(2, "paper-mse"), (4, "paper")])
def test_merged_equals_unmerged(bits: int, scheme: str) -> None:
    for name, model, shape in _models():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = quantize_weights(split_layers(model.eval(), seed=0), bits, scheme)
        merged, weights = merge_split(q)
        assert not any(isinstance(m, SplitLayer) for m in merged.modules()), name
        assert any(isinstance(m, SplitLayer) for m in q.modules()), "merge must not modify its argument"
        x = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            y, ym = q(x), merged(x)
        assert float((y - ym).abs().max() / y.abs().max()) <= 1e-5, name
        for w in weights.values():  # each weight in one cluster, two exact zeros: <= 3 * 2^b levels a channel
            assert levels_per_channel(w.numpy()).max() <= 3 * 2**bits


def test_codebook_round_trip_is_exact() -> None:
    rng = np.random.default_rng(0)
    levels = rng.normal(size=(7, 12)).astype(np.float32)  # 12 levels per channel, as a merged INT2 layer
    idx = rng.integers(0, 12, size=(7, 5, 3, 3))
    w = np.take_along_axis(levels, idx.reshape(7, -1), axis=1).reshape(7, 5, 3, 3)
    cb = codebook(w)
    assert int(cb["index_bits"]) == 4 and cb["codebook"].shape[0] == 7
    assert cb["indices"].nbytes == -(-w.size * 4 // 8)  # two indices a byte
    np.testing.assert_array_equal(from_codebook(cb), w)
    one = np.array([[0.5, 0.5], [1.0, -1.0]], np.float32)  # a channel with one level: 1-bit indices
    np.testing.assert_array_equal(from_codebook(codebook(one)), one)


def test_byte_report_counts_stored_and_runtime_bytes() -> None:
    w = torch.from_numpy(np.tile(np.arange(12, dtype=np.float32), (4, 2)))  # 4 channels x 24 weights
    r = byte_report({"l": w})
    assert r["merged_index_bytes"] == 4 * 24 * 4 // 8 and r["merged_table_bytes"] == 4 * 12 * 4
    assert r["merged_runtime_bytes"] == 4 * 24 * 4 and r["merged_levels_max"] == 12
    assert r["plain_int2_bytes"] == 4 * 24 * 2 // 8 + 4 * 8 and r["plain_int4_bytes"] == 4 * 24 // 2 + 4 * 8


def test_packed_file_round_trips_merged_layers(tmp_path) -> None:
    from neuroedge.converters.splitquant.merge import codebook_arrays
    from neuroedge.converters.splitquant.pack import read_packed, write_packed

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize_weights(split_layers(nn.Sequential(nn.Linear(20, 12), nn.ReLU(), nn.Linear(12, 3)), 0), 2,
                             "paper")
    _, weights = merge_split(q)
    sizes = write_packed(tmp_path / "w.npz", {}, codebook_arrays(weights))
    back = read_packed(tmp_path / "w.npz")
    assert set(back) == {"0", "2"} and sizes["packed_weight_bytes"] > 0
    for name, w in weights.items():
        np.testing.assert_array_equal(back[name], w.numpy())
