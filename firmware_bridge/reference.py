"""The Python integer reference of the firmware's kernels: the oracle the tests compare against.

It implements the same arithmetic as ``firmware/src/ne_kernels.c``, vectorised over a batch with
int64 numpy (every intermediate of the C code fits in int64, so nothing here can overflow):

* requant (TFLite-Micro / CMSIS-NN): with ``ls = max(shift, 0)``, ``rs = max(-shift, 0)``,
  ``a = sat32(x * 2**ls)``; ``h = trunc((a*mult + nudge) / 2**31)`` with ``nudge = 2**30`` if
  ``a*mult >= 0`` else ``1 - 2**30`` (and ``h = 2**31 - 1`` when ``a = mult = -2**31``);
  ``y = (h >> rs) + ((h & (2**rs - 1)) > ((2**rs - 1) >> 1) + (h < 0))``.
  So ``y ~= x * mult * 2**(shift-31)``.
* dense / conv2d / depthwise: ``acc = bias + sum((x + in_offset) * w)`` over valid taps (padding
  contributes nothing, as if padded with the input zero point), then
  ``clamp(requant(acc) + out_offset, act_min, act_max)``.
* avg pool: ``s = sum`` over valid taps, ``n`` = their count, ``(s + n//2) // n`` truncated toward zero
  for ``s > 0``, else ``(s - n//2) / n`` truncated toward zero; max pool takes the max. Both clamp.
* argmax: the first index of the maximum (softmax is monotonic, so it is softmax's argmax).
"""

from __future__ import annotations

import numpy as np

from neuroedge.firmware_bridge.blob import Layer, LayerType, Model

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def _trunc_div(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """C99 integer division (truncates toward zero)."""
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (np.asarray(b) < 0), -q, q)


def requant(x: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Bit-exact ``ne_requant`` on int64 arrays (broadcasting ``mult``/``shift`` over the last axis)."""
    x = np.asarray(x, np.int64)
    mult = np.asarray(mult, np.int64)
    shift = np.asarray(shift, np.int64)
    ls = np.maximum(shift, 0)
    rs = np.maximum(-shift, 0)
    a = np.clip(x * (np.int64(1) << ls), I32_MIN, I32_MAX)
    ab = a * mult
    v = ab + np.where(ab >= 0, np.int64(1) << 30, 1 - (np.int64(1) << 30))
    hm = np.where(v >= 0, v >> 31, -((-v) >> 31))
    hm = np.where((a == I32_MIN) & (mult == I32_MIN), I32_MAX, hm)
    mask = (np.int64(1) << rs) - 1
    rem = hm & mask
    thr = (mask >> 1) + (hm < 0)
    return (hm >> rs) + (rem > thr)


def _finish(layer: Layer, acc: np.ndarray) -> np.ndarray:
    y = requant(acc, layer.mult, layer.shift) + layer.out_offset
    return np.clip(y, layer.act_min, layer.act_max).astype(np.int8)


def _windows(layer: Layer):
    """Yield (ky, kx, out-slice-y, out-slice-x, in-slice-y, in-slice-x) for the valid taps of each offset."""
    (ih, iw, _), (oh, ow, _) = layer.in_shape, layer.out_shape
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.pad
    oy, ox = np.arange(oh), np.arange(ow)
    for ky in range(kh):
        iy = oy * sh - ph + ky
        vy = (iy >= 0) & (iy < ih)
        for kx in range(kw):
            ix = ox * sw - pw + kx
            vx = (ix >= 0) & (ix < iw)
            yield ky, kx, oy[vy], ox[vx], iy[vy], ix[vx]


def _layer(layer: Layer, x: np.ndarray) -> np.ndarray:
    """One layer on a batch ``x`` of shape (N, H, W, C) int8; returns (N, H', W', C') int8."""
    n = x.shape[0]
    xi = x.astype(np.int64)
    oh, ow, oc = layer.out_shape
    t = layer.type
    if t == LayerType.DENSE:
        acc = (xi.reshape(n, -1) + layer.in_offset) @ layer.weights.astype(np.int64).T + layer.bias
        return _finish(layer, acc).reshape(n, 1, 1, oc)
    if t == LayerType.RELU:
        return np.clip(xi, layer.act_min, layer.act_max).astype(np.int8)
    if t in (LayerType.CONV2D, LayerType.DWCONV2D):
        acc = np.zeros((n, oh, ow, oc), np.int64) + layer.bias.astype(np.int64)
        xo = xi + layer.in_offset
        w = layer.weights.astype(np.int64)
        mult = oc // layer.in_shape[2]
        for ky, kx, oy, ox, iy, ix in _windows(layer):
            patch = xo[:, iy][:, :, ix]  # (N, |oy|, |ox|, C)
            if t == LayerType.CONV2D:
                contrib = patch @ w[:, ky, kx, :].T
            else:
                contrib = np.repeat(patch, mult, axis=-1) * w[ky, kx, :]
            acc[:, oy[:, None], ox[None, :], :] += contrib
        return _finish(layer, acc)
    if t in (LayerType.MAXPOOL, LayerType.AVGPOOL):
        c = layer.in_shape[2]
        is_max = t == LayerType.MAXPOOL
        acc = np.full((n, oh, ow, c), -128 if is_max else 0, np.int64)
        count = np.zeros((oh, ow), np.int64)
        for _, _, oy, ox, iy, ix in _windows(layer):
            patch = xi[:, iy][:, :, ix]
            sel = (slice(None), oy[:, None], ox[None, :], slice(None))
            acc[sel] = np.maximum(acc[sel], patch) if is_max else acc[sel] + patch
            count[oy[:, None], ox[None, :]] += 1
        if not is_max:
            cnt = np.maximum(count, 1)[None, :, :, None]
            half = cnt // 2
            acc = np.where(acc > 0, _trunc_div(acc + half, cnt), _trunc_div(acc - half, cnt))
        return np.clip(acc, layer.act_min, layer.act_max).astype(np.int8)
    raise ValueError(f"unknown layer type {t}")


def run(model: Model, x: np.ndarray) -> np.ndarray:
    """Run the int8 model on a batch of HWC inputs (N, H, W, C) or flat (N, H*W*C).

    Returns (N, out_size) int8.
    """
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TypeError(f"the reference takes int8 inputs, got {x.dtype}")
    h = x.reshape((x.shape[0], *model.in_shape))
    for layer in model.layers:
        h = h.reshape((h.shape[0], *layer.in_shape))
        h = _layer(layer, h)
    return h.reshape(h.shape[0], -1)


def argmax(y: np.ndarray) -> np.ndarray:
    """The firmware's argmax: the first index of the maximum int8 value, per row."""
    return np.argmax(np.asarray(y), axis=-1)


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float to int8 as the converter does it: ``clamp(round_half_even(x / scale) + zp, -128, 127)``."""
    return np.clip(np.round(np.asarray(x, np.float64) / scale) + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q, np.float32) - zero_point) * np.float32(scale)
