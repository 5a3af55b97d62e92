"""BatchNorm folding and data-based normalisation (percentile of activations on calibration data).

BN after a layer with weight W and bias b folds as (per output channel c)::

    W_c <- W_c * gamma_c / sqrt(var_c + eps),    b_c <- (b_c - mean_c) * gamma_c / sqrt(var_c + eps) + beta_c

Normalisation (Rueckauer et al. 2017, "robust" variant): ``lambda_l`` is the ``percentile``-th
percentile of layer l's positive activations over the calibration set (default 99.9, which ignores
rare outliers that the max would chase), and ``lambda_0`` the same for the input. Then
``W'_l = W_l lambda_{l-1} / lambda_l`` and ``b'_l = b_l / lambda_l`` (see ``layers.FloatLayer``).

Why 99.9: a lower percentile clips (an IF neuron fires at most once per step), a higher one spends
rate resolution on rare outliers. Chosen on validation data, never the test set: the gesture CNN's
1469 training frames outside its calibration sample, float SNN, accuracy at T=64 / T=256 (DNN
88.90): p=99.9 88.70/89.04, 99.95 88.29/89.04, 99.99 88.22/88.90; on 600 of them (DNN 89.50):
p=99 85.17/86.83, 99.5 87.67/89.17, 99.9 89.50/89.67, 99.99 89.00/89.33. On the held-out test
subjects 99.9 clips more (the clipped-rate DNN alone loses 0.30 points there, none at 99.99), but
the validation data do not support a higher percentile.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuroedge.converters.snn.check import UnsupportedModelError, _pair, check_model, model_chain
from neuroedge.converters.snn.layers import FloatLayer


def _fold_bn(w: np.ndarray, b: np.ndarray, bn: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    std = np.sqrt(bn.running_var.detach().double().numpy() + bn.eps)
    gamma = bn.weight.detach().double().numpy() if bn.affine else np.ones_like(std)
    beta = bn.bias.detach().double().numpy() if bn.affine else np.zeros_like(std)
    mean = bn.running_mean.detach().double().numpy()
    k = gamma / std
    return w * k.reshape((-1,) + (1,) * (w.ndim - 1)), (b - mean) * k + beta


def _conv_padding(conv: nn.Conv2d) -> tuple[int, int]:
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return (0, 0)
        kh, kw = conv.kernel_size
        return (kh // 2, kw // 2)  # "same" with stride 1 and odd kernels
    return _pair(conv.padding)


def _pool_stage(k: tuple[int, int], shape: tuple[int, ...], source: str) -> dict[str, Any]:
    """An AvgPool as its own spiking layer: a conv whose kernel is 1/k^2 on the channel diagonal."""
    ch = shape[0]
    w = np.zeros((ch, ch) + k)
    w[np.arange(ch), np.arange(ch)] = 1.0 / (k[0] * k[1])
    return dict(kind="conv", weight=w, bias=np.zeros(ch), in_shape=shape, stride=k, padding=(0, 0), source=source)


def _fold_pool_into_conv(w: np.ndarray, stride: tuple[int, int], padding: tuple[int, int],
                         k: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """conv(avgpool_k(x), W, s, p) == conv(x, W', s*k, p*k) with W'[.., i*k+a, j*k+b] = W[.., i, j] / k^2."""
    w2 = np.repeat(np.repeat(w, k[0], axis=2), k[1], axis=3) / (k[0] * k[1])
    return w2, (stride[0] * k[0], stride[1] * k[1]), (padding[0] * k[0], padding[1] * k[1])


def _fold_pool_into_linear(w: np.ndarray, pre: tuple[int, int, int], k: tuple[int, int]) -> np.ndarray:
    """linear(flatten(avgpool_k(x))) == linear(flatten(x), W'): W' spreads each weight over its k x k block."""
    c, h, wd = pre
    hp, wp = h // k[0], wd // k[1]
    w4 = w.reshape(w.shape[0], c, hp, wp)
    full = np.zeros((w.shape[0], c, h, wd))
    full[:, :, : hp * k[0], : wp * k[1]] = np.repeat(np.repeat(w4, k[0], axis=2), k[1], axis=3) / (k[0] * k[1])
    return full.reshape(w.shape[0], -1)


def extract_layers(model: nn.Module, input_shape: tuple[int, ...], pool: str = "spiking") -> list[dict[str, Any]]:
    """The model's synaptic stages with BN folded, unnormalised, in torch layout.

    ``input_shape`` excludes the batch: (C, H, W) or (n,). ``pool``: "spiking" (default) keeps each
    AvgPool2d as its own layer of IF neurons, as SNN Toolbox does; "fold" merges it into the next
    Conv2d or Linear (exact, as both are linear: one fewer spiking layer and step of delay, but k^2
    times the fan-in). Measured on the gesture CNN: folding gave no accuracy gain and cost about 3x
    the synaptic operations and 81 Loihi 1 cores instead of 46, hence the default. A pool with
    nothing linear after it, or one that drops rows (odd sizes) before a Conv2d, stays spiking.
    """
    if pool not in ("fold", "spiking"):
        raise ValueError(f"pool must be 'fold' or 'spiking', got {pool!r}")
    issues = check_model(model)
    if issues:
        raise UnsupportedModelError(issues)
    chain, _ = model_chain(model)
    stages: list[dict[str, Any]] = []
    shape = tuple(input_shape)
    pending: tuple[tuple[int, int], tuple[int, ...], str] | None = None  # (k, shape before the pool, source)

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            stages.append(_pool_stage(pending[0], pending[1], pending[2]))
            pending = None

    for c in chain:
        op = c.op
        if isinstance(op, nn.Conv2d):
            w = op.weight.detach().double().numpy()
            b = op.bias.detach().double().numpy() if op.bias is not None else np.zeros(w.shape[0])
            stride, padding, src, in_shape = _pair(op.stride), _conv_padding(op), f"{c.index}:Conv2d", shape
            if pending is not None:
                k, pre, psrc = pending
                w2, s2, p2 = _fold_pool_into_conv(w, stride, padding, k)
                # Exact only when the pool drops nothing: the folded kernel would read the dropped rows.
                if pre[1] % k[0] == 0 and pre[2] % k[1] == 0:
                    w, stride, padding, src, in_shape = w2, s2, p2, f"{psrc}+{src}", pre
                    pending = None
                else:
                    flush()
            stage = dict(kind="conv", weight=w, bias=b, in_shape=in_shape, stride=stride, padding=padding,
                         source=src)
            stages.append(stage)
            shape = _conv_out(in_shape, w.shape, stride, padding)
        elif isinstance(op, nn.Linear):
            if len(shape) != 1:
                raise ValueError(f"layer {c.index} ({c.name}): Linear on a {list(shape)} map needs a Flatten before it")
            w = op.weight.detach().double().numpy()
            b = op.bias.detach().double().numpy() if op.bias is not None else np.zeros(w.shape[0])
            src = f"{c.index}:Linear"
            in_shape = shape
            if pending is not None:
                k, pre, psrc = pending
                w, src, in_shape = _fold_pool_into_linear(w, pre, k), f"{psrc}+{src}", (int(np.prod(pre)),)
                pending = None
            stages.append(dict(kind="dense", weight=w, bias=b, in_shape=in_shape, source=src))
            shape = (w.shape[0],)
        elif isinstance(op, nn.AvgPool2d):
            k = _pair(op.kernel_size)
            flush()
            if pool == "fold":
                pending = (k, shape, f"{c.index}:AvgPool2d")
            else:
                stages.append(_pool_stage(k, shape, f"{c.index}:AvgPool2d"))
            shape = (shape[0], shape[1] // k[0], shape[2] // k[1])
        elif isinstance(op, (nn.BatchNorm1d, nn.BatchNorm2d)):
            st = stages[-1]
            st["weight"], st["bias"] = _fold_bn(st["weight"], st["bias"], op)
            st["source"] += f"+{c.index}:{type(op).__name__}"
        elif isinstance(op, nn.Flatten) or op == "flatten":
            shape = (int(np.prod(shape)),)
    flush()
    return stages


def _conv_out(shape: tuple[int, ...], wshape: tuple[int, ...], stride: tuple[int, int],
              padding: tuple[int, int]) -> tuple[int, int, int]:
    _, h, w = shape
    return (int(wshape[0]), (h + 2 * padding[0] - wshape[2]) // stride[0] + 1,
            (w + 2 * padding[1] - wshape[3]) // stride[1] + 1)


def stage_forward(stage: dict[str, Any] | FloatLayer, x: torch.Tensor, relu: bool) -> torch.Tensor:
    """One stage on a batch (float64): conv/linear, then ReLU unless it is the last layer."""
    get = stage.get if isinstance(stage, dict) else lambda k: getattr(stage, k)
    w = torch.from_numpy(np.asarray(get("weight"), dtype=np.float64))
    b = torch.from_numpy(np.asarray(get("bias"), dtype=np.float64))
    if get("kind") == "conv":
        x = x.reshape((x.shape[0],) + tuple(get("in_shape")))
        y = F.conv2d(x, w, b, stride=tuple(get("stride")), padding=tuple(get("padding")))
    else:
        y = F.linear(x.reshape(x.shape[0], -1), w, b)
    return torch.relu(y) if relu else y


def positive_percentile(a: np.ndarray, p: float) -> float:
    pos = a[a > 0]
    return float(np.percentile(pos, p)) if pos.size else 1.0


def _channel_percentiles(a: torch.Tensor, p: float, fallback: float) -> np.ndarray:
    """Per channel (dim 1) percentile of the positive values; ``fallback`` for a channel never positive."""
    flat = a.transpose(0, 1).reshape(a.shape[1], -1).numpy()
    return np.array([positive_percentile(row, p) if (row > 0).any() else fallback for row in flat])


def normalise(stages: list[dict[str, Any]], calib: np.ndarray, percentile: float = 99.9,
              batch: int = 256, norm: str = "layer") -> tuple[list[FloatLayer], float]:
    """Scale each stage by the percentile of its activations; returns (layers, input scale).

    ``norm="layer"``: one ``lambda_l`` per layer. ``norm="channel"``: one per output channel of
    every hidden layer (Kim et al. 2020, "Spiking-YOLO", channel-wise normalisation), so a channel
    whose activations stay small still fires at a useful rate; then ``W'[o, i] = W[o, i]
    lambda_{l-1}[i] / lambda_l[o]`` and ``b'[o] = b[o] / lambda_l[o]``. The output layer keeps one
    scale, as per-class scales would change the argmax. ``FloatLayer.scale`` is then the largest
    channel's lambda. The converter uses "layer": measured on the gesture CNN, "channel" is exact in
    float but in Loihi fixed point it fell to 19% at T=256 (vs 85% per layer), as channels with a
    small lambda get large weights and biases that lower vth and drive the 24-bit membrane to wrap.
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    if norm not in ("layer", "channel"):
        raise ValueError(f"norm must be 'layer' or 'channel', got {norm!r}")
    x = np.asarray(calib, dtype=np.float64)
    if (x < 0).any():
        raise ValueError("calibration inputs have negative values; rate coding needs inputs >= 0 "
                         "(shift or rescale the input, e.g. frames of event counts or pixels in [0, 1])")
    lam_in = positive_percentile(x, percentile)
    lams: list[np.ndarray] = []
    n = len(stages)
    with torch.inference_mode():
        acts = [torch.from_numpy(x[i:i + batch]) for i in range(0, len(x), batch)]
        for li, st in enumerate(stages):
            acts = [stage_forward(st, a, relu=li < n - 1) for a in acts]
            cat = torch.cat(acts)
            lam = positive_percentile(cat.reshape(-1).numpy(), percentile)
            if norm == "channel" and li < n - 1:
                lams.append(_channel_percentiles(cat, percentile, lam))
            else:
                lams.append(np.array([lam]))
    layers = []
    prev = np.array([lam_in])
    for li, (st, lam) in enumerate(zip(stages, lams, strict=True)):
        w = st["weight"]
        n_in = w.shape[1]
        if st["kind"] == "conv":
            lp = np.broadcast_to(prev, (n_in,)) if prev.size in (1, n_in) else prev
            w2 = w * lp[None, :, None, None] / lam.reshape(-1, 1, 1, 1)
        else:  # a dense layer after a conv map sees channel scales repeated over H*W (CHW flattening)
            lp = prev if prev.size in (1, n_in) else np.repeat(prev, n_in // prev.size)
            w2 = w * lp.reshape(1, -1) / lam.reshape(-1, 1)
        layers.append(FloatLayer(
            name=f"l{li}_{st['kind']}", kind=st["kind"], weight=w2, bias=st["bias"] / lam,
            scale=float(lam.max()), in_shape=tuple(st["in_shape"]), stride=tuple(st.get("stride", (1, 1))),
            padding=tuple(st.get("padding", (0, 0))), source=st["source"],
        ))
        prev = lam
    return layers, lam_in


def ann_forward(layers: list[FloatLayer], x: np.ndarray, input_scale: float) -> list[np.ndarray]:
    """The normalised DNN's activations per layer (a_l / lambda_l), torch layout, flat per sample."""
    out = []
    with torch.inference_mode():
        a = torch.from_numpy(np.asarray(x, dtype=np.float64) / input_scale)
        for li, layer in enumerate(layers):
            a = stage_forward(layer, a, relu=li < len(layers) - 1)
            out.append(a.reshape(a.shape[0], -1).numpy())
    return out
