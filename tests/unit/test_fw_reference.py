"""The integer reference (the oracle), the blob format, and the mcu converter's quantisation."""

from __future__ import annotations

import numpy as np
import pytest

from neuroedge.firmware_bridge import reference as R
from neuroedge.firmware_bridge.blob import (
    AvgPool2d,
    BlobError,
    Conv2d,
    Dense,
    LayerType,
    MaxPool2d,
    Model,
    ReLU,
    c_array,
    pack,
    unpack,
)
from neuroedge.firmware_bridge.models import random_all_ops

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def requant_scalar(x: int, mult: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier written out with Python integers, line by line."""
    left, right = max(shift, 0), max(-shift, 0)
    a = min(max(x * (1 << left), I32_MIN), I32_MAX)
    if a == I32_MIN and mult == I32_MIN:
        high = I32_MAX
    else:
        ab = a * mult
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        v = ab + nudge
        high = abs(v) // (1 << 31) * (1 if v >= 0 else -1)
    mask = (1 << right) - 1
    rem = high & mask
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if rem > threshold else 0)


def test_requant_matches_the_scalar_definition_on_edges_and_random_values() -> None:
    rng = np.random.default_rng(0)
    xs = [0, 1, -1, I32_MAX, I32_MIN, 12345, -12345, 2**20, -(2**20)] + list(
        rng.integers(I32_MIN, I32_MAX, 300)
    )
    mults = [0, 1, 2**30, I32_MAX, I32_MIN] + list(rng.integers(2**30, 2**31 - 1, 30))
    shifts = [-31, -20, -8, -1, 0, 1, 5, 30]
    x, m, s = (np.array(v, np.int64) for v in np.meshgrid(xs, mults, shifts, indexing="ij"))
    got = R.requant(x.ravel(), m.ravel(), s.ravel())
    want = [
        requant_scalar(int(a), int(b), int(c))
        for a, b, c in zip(x.ravel(), m.ravel(), s.ravel(), strict=True)
    ]
    np.testing.assert_array_equal(got, want)


def test_requant_approximates_the_real_multiplier() -> None:
    from neuroedge.converters.mcu import quantize_multiplier

    rng = np.random.default_rng(1)
    for real in list(rng.uniform(1e-6, 0.99, 200)) + [1e-12, 0.5, 0.999999, 3.7]:
        mult, shift = quantize_multiplier(float(real))
        x = rng.integers(-(2**20), 2**20, 50)
        err = np.abs(R.requant(x, mult, shift) - x * real)
        assert err.max() <= 1.0 + 1e-9, real
        if mult:
            assert 2**30 <= mult < 2**31


def test_blob_roundtrip_and_c_array() -> None:
    m = random_all_ops(3)
    blob = pack(m)
    assert len(blob) % 4 == 0
    back = unpack(blob)
    assert pack(back) == blob
    x = np.random.default_rng(0).integers(-128, 128, (20, 9 * 9 * 3)).astype(np.int8)
    np.testing.assert_array_equal(R.run(back, x), R.run(m, x))
    src = c_array(blob)
    assert f"ne_linked_blob_len = {len(blob)}u" in src and src.count("0x") == len(blob)


def test_blob_rejects_bad_input() -> None:
    blob = pack(random_all_ops(0))
    with pytest.raises(BlobError):
        unpack(b"XXXX" + blob[4:])
    with pytest.raises(BlobError):
        unpack(blob[:-4])
    with pytest.raises(BlobError, match=r"weights must be int8 of shape \(2, 4\)"):
        Dense((1, 1, 4), (1, 1, 2), bias=np.zeros(2), mult=np.zeros(2), shift=np.zeros(2),
              weights=np.zeros((3, 4), np.int8))
    with pytest.raises(BlobError, match="layer 1 .RELU. takes"):
        Model([ReLU((1, 1, 4), (1, 1, 4)), ReLU((1, 1, 5), (1, 1, 5))], 1.0, 0, 1.0, 0)


def test_typed_layers_are_frozen_and_validated_at_construction() -> None:
    """Each kind checks what the firmware's blob validator checks, naming the field."""
    import dataclasses

    ok = {"bias": np.zeros(2), "mult": np.full(2, 2**30), "shift": np.zeros(2), "weights": np.zeros((2, 4), np.int8)}
    dense = Dense((1, 1, 4), (1, 1, 2), **ok)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dense.act_min = 0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        dense.mult[0] = 5  # arrays are frozen too
    with pytest.raises(BlobError, match=r"mult must be 0 .* or in \[2\^30, 2\^31\)"):
        Dense((1, 1, 4), (1, 1, 2), **{**ok, "mult": np.full(2, 12345)})
    with pytest.raises(BlobError, match="in_offset 200 must be in"):
        Dense((1, 1, 4), (1, 1, 2), in_offset=200, **ok)
    with pytest.raises(BlobError, match=r"shifts must lie in \[-31, 30\]"):
        Dense((1, 1, 4), (1, 1, 2), **{**ok, "shift": np.full(2, 31)})
    with pytest.raises(BlobError, match=r"activation range \[10, 5\]"):
        ReLU((1, 1, 4), (1, 1, 4), act_min=10, act_max=5)
    with pytest.raises(BlobError, match=r"out_shape \(4, 4, 3\) but kernel .* give \(3, 3\)"):
        Conv2d((6, 6, 1), (4, 4, 3), (3, 3), (2, 2), (1, 1), weights=np.zeros((3, 3, 3, 1), np.int8),
               bias=np.zeros(3), mult=np.zeros(3), shift=np.zeros(3))
    with pytest.raises(BlobError, match="pad"):
        MaxPool2d((6, 6, 4), (7, 7, 4), (2, 2), (1, 1), (2, 2))
    with pytest.raises(BlobError, match="accumulator could overflow"):
        Dense((1, 1, 4), (1, 1, 2), **{**ok, "bias": np.full(2, 2**31 - 1)})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_conv_layers_agree_with_torch_conv(seed: int) -> None:
    """The reference's conv/depthwise/dense indexing matches torch: the accumulator from torch in float64
    (exact for these integers), requantised with the same rule, gives the same int8 tensor."""
    import torch

    m = random_all_ops(seed)
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (16, *m.in_shape)).astype(np.int8)
    for layer in (m.layers[0], m.layers[1]):
        got = R._layer(layer, x)
        xt = torch.from_numpy((x.astype(np.float64) + layer.in_offset).transpose(0, 3, 1, 2).copy())
        if layer.type == LayerType.CONV2D:
            w, groups = layer.weights.astype(np.float64).transpose(0, 3, 1, 2), 1
        else:
            w, groups = layer.weights.astype(np.float64).transpose(2, 0, 1)[:, None], layer.in_shape[2]
        acc = torch.nn.functional.conv2d(
            xt,
            torch.from_numpy(w.copy()),
            torch.from_numpy(layer.bias.astype(np.float64)),
            layer.stride,
            layer.pad,
            1,
            groups,
        )
        acc = acc.numpy().transpose(0, 2, 3, 1).astype(np.int64)
        want = np.clip(
            R.requant(acc, layer.mult, layer.shift) + layer.out_offset, layer.act_min, layer.act_max
        )
        np.testing.assert_array_equal(got, want.astype(np.int8))
        x = got


def test_reference_pools_agree_with_torch() -> None:
    import torch

    x = np.random.default_rng(5).integers(-128, 128, (8, 6, 6, 4)).astype(np.int8)
    xt = torch.from_numpy(x.astype(np.float64).transpose(0, 3, 1, 2).copy())
    mp = MaxPool2d((6, 6, 4), (3, 3, 4), (3, 3), (2, 2), (1, 1))
    want = torch.nn.functional.max_pool2d(xt, 3, 2, 1).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(R._layer(mp, x), want.astype(np.int8))
    ap = AvgPool2d((6, 6, 4), (3, 3, 4), (2, 2), (2, 2), (0, 0))
    avg = torch.nn.functional.avg_pool2d(xt, 2, 2).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(
        R._layer(ap, x), (np.sign(avg) * np.floor(np.abs(avg) + 0.5)).astype(np.int8)
    )
