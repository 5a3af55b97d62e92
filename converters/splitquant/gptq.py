"""GPTQ rounding (Frantar et al. 2022) on fixed grids: the ``*-gptq`` schemes.

The grids are the ``*-awmse`` scheme's: brevitas' own per-channel scale and zero point over weights
clipped to their activation-weighted ranges (``ranges.py``). Only the rounding changes. Round-to-nearest
rounds each weight alone; GPTQ rounds the columns of a layer's weight ``W`` [C, K] one at a time and
spreads each column's rounding error over the columns not yet rounded, so that the layer's output
error ``||(W - Q) X||^2`` over its calibration inputs ``X`` stays small. With ``H = X^T X`` (damped by
1% of its mean diagonal) and ``U`` the upper Cholesky factor of ``H^-1``, column ``j`` is rounded to
``q_j`` and then ``W[:, k] -= (w_j - q_j) U[j, k] / U[j, j]`` for every later ``k``. Columns go in
order of decreasing ``H_jj`` ("act order": the most used inputs first, while the most columns are
left to absorb their error).

Layers are done in the order the model calls them, each on the inputs that the already rounded
earlier layers give (training inputs only: the ``calibration`` batch). The three parts of a split layer
share one input, so they are rounded as one matrix ``W_l + W_m + W_u`` whose entries each live on their
own part's grid: a weight belongs to exactly one part and the other two hold an exact zero there, so the
merged layer still has at most ``3 * 2^b`` levels per output channel.

brevitas derives its scales from the weights it holds (min/max, or max |w|), so the rounded weights
are handed back such that those statistics do not move: in each part's row the weights at the row's
minimum and maximum keep their clipped float values and their round-to-nearest codes, and every other
weight is its grid value, clamped into the row's range (``[min, max]``; ``[-max|w|, max|w|]`` for the
signed grids): an end level may lie up to half a step outside it, and still rounds to itself. Afterwards brevitas' dequantised weights are checked against ours.

With ``bias_correction`` each layer's bias absorbs the mean output shift, ``W E[x] - Q E[x_q]`` (``x``
the float model's inputs to the layer, ``x_q`` the rounded model's), before the next layer is done.
"""

from __future__ import annotations

import torch
from torch import nn

from neuroedge.converters.splitquant.layers import get_module
from neuroedge.converters.splitquant.ranges import feed_inputs

DAMP = 0.01  # of the mean diagonal of H, as in GPTQ: keeps H invertible when inputs are collinear
PARTS = ("lower", "middle", "upper")  # SplitLayer's children, in call order


def gptq_codes(weight: torch.Tensor, hessian: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor,
               qmin: int, qmax: int, forced: torch.Tensor | None = None, damp: float = DAMP,
               act_order: bool = True) -> torch.Tensor:
    """Integer codes for ``weight`` [C, K], each entry on its own grid ``(code - zero) * scale``.

    ``scale`` and ``zero`` are [C, K] (one grid per entry); ``hessian`` is ``X^T X`` [K, K];
    ``forced`` [C, K] holds a code to use (its error is still spread) or ``NaN`` to choose one.
    """
    w = weight.detach().double().clone()
    h = hessian.detach().double().clone()
    s, z = scale.double(), zero.double()
    k = w.shape[1]
    dead = h.diagonal() == 0  # an input that is always zero: its column is rounded to nearest alone
    h[dead, dead] = 1.0
    order = torch.argsort(h.diagonal(), descending=True, stable=True) if act_order else torch.arange(k)
    w, h, s, z = w[:, order], h[order][:, order], s[:, order], z[:, order]
    f = None if forced is None else forced.double()[:, order]
    h += damp * h.diagonal().mean() * torch.eye(k, dtype=torch.float64)
    u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    codes = torch.empty_like(w)
    for j in range(k):
        col = w[:, j]
        q = torch.clamp(torch.round(col / s[:, j]) + z[:, j], qmin, qmax)
        if f is not None:
            q = torch.where(torch.isnan(f[:, j]), q, f[:, j])
        err = (col - (q - z[:, j]) * s[:, j]) / u[j, j]
        w[:, j + 1:] -= err[:, None] * u[j, j + 1:][None, :]
        codes[:, j] = q
    out = torch.empty_like(codes)
    out[:, order] = codes
    return out


def output_error(weight: torch.Tensor, rounded: torch.Tensor, hessian: torch.Tensor) -> float:
    """``||(W - Q) X||_F^2 = tr((W - Q) H (W - Q)^T)`` with ``H = X^T X``."""
    e = (weight.double() - rounded.double()).reshape(weight.shape[0], -1)
    return float(torch.einsum("ck,kl,cl->", e, hessian.double(), e))


def _groups(names: list[str]) -> list[list[str]]:
    """Layer names grouped by shared input: a split layer's three parts together, others alone."""
    def child(parent: str, part: str) -> str:
        return f"{parent}.{part}" if parent else part

    groups: dict[str, list[str]] = {}
    for n in names:
        parent, _, last = n.rpartition(".")
        split = last in PARTS and all(child(parent, p) in names for p in PARTS)
        groups.setdefault(f"split:{parent}" if split else n, []).append(n)
    return list(groups.values())


def _input_stats(model: nn.Module, heads: dict[str, nn.Module], data: torch.Tensor, hessian: bool,
                 batch_size: int = 256) -> dict[str, tuple[torch.Tensor | None, torch.Tensor, int]]:
    """Per named layer: (``X^T X`` or None, the sum of its input rows, the row count), on ``data``."""
    acc: dict[str, list] = {}

    def record(name: str, x: torch.Tensor) -> None:
        a = acc.setdefault(name, [0.0, 0.0, 0])
        if hessian:
            a[0] = a[0] + x.T @ x
        a[1], a[2] = a[1] + x.sum(0), a[2] + x.shape[0]

    feed_inputs(model, heads, data, record, batch_size)
    return {n: (a[0] if hessian else None, a[1], a[2]) for n, a in acc.items()}


def _roundable(layer: nn.Module) -> bool:
    return getattr(layer, "groups", 1) == 1 and not isinstance(getattr(layer, "padding", 0), str)


def _grid(qlayer: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int]:
    """brevitas' grid of a quant layer: per-row scale and zero point [C], its codes, and the code range."""
    t = qlayer.quant_weight()
    bits, signed = int(t.bit_width), bool(t.signed)
    narrow = bool(getattr(qlayer.weight_quant, "is_narrow_range", False))
    qmax = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    qmin = (-qmax if narrow else -qmax - 1) if signed else 0
    c = t.value.shape[0]
    scale = t.scale.detach().double().reshape(c, -1)[:, 0]
    zero = t.zero_point.detach().double().expand_as(t.value).reshape(c, -1)[:, 0]
    return scale, zero, t.int().detach().double().reshape(c, -1), qmin, qmax


def round_model(model: nn.Module, qmodel: nn.Module, names: list[str], calibration: torch.Tensor,
                bias_correction: bool = True) -> dict[str, float]:
    """GPTQ-round every layer of ``qmodel`` (brevitas, grids fixed) in place; ``model`` is its float source.

    Returns each layer group's output error on the calibration data relative to round-to-nearest's
    (below 1 when GPTQ helps). Layers GPTQ cannot take (grouped convs, string padding) or that never run
    on the calibration data keep round-to-nearest.
    """
    import copy

    work = copy.deepcopy(model).eval()  # float, takes each group's rounded weights as it goes
    groups = [g for g in _groups(names) if all(_roundable(get_module(work, n)) for n in g)]
    heads = {g[0]: get_module(work, g[0]) for g in groups}
    float_means = _input_stats(work, heads, calibration, hessian=False) if bias_correction else {}
    order = {n: i for i, n in enumerate(_call_order(work, heads, calibration[:1]))}
    ratios: dict[str, float] = {}
    for group in sorted((g for g in groups if g[0] in order), key=lambda g: order[g[0]]):
        stats = _input_stats(work, {group[0]: heads[group[0]]}, calibration, hessian=True)[group[0]]
        key = group[0].rpartition(".")[0] if len(group) == len(PARTS) else group[0]
        ratios[key] = _round_group(work, qmodel, group, stats, float_means.get(group[0]))
    return ratios


def _call_order(model: nn.Module, heads: dict[str, nn.Module], x: torch.Tensor) -> list[str]:
    seen: list[str] = []
    handles = [m.register_forward_hook(lambda _m, _i, _o, n=n: seen.append(n) if n not in seen else None)
               for n, m in heads.items()]
    try:
        with torch.no_grad():
            model(torch.as_tensor(x, dtype=torch.float32))
    finally:
        for hd in handles:
            hd.remove()
    return seen


def _round_group(work: nn.Module, qmodel: nn.Module, group: list[str], stats: tuple,
                 float_mean: tuple | None) -> float:
    hess, row_sum, rows = stats
    floats = [get_module(work, n) for n in group]
    quants = [get_module(qmodel, n) for n in group]
    shape = floats[0].weight.shape
    w_parts = torch.stack([f.weight.detach().double().reshape(shape[0], -1) for f in floats])  # [P, C, K]
    w = w_parts.sum(0)
    # Owner of each entry: the part holding it (an exact zero everywhere: the middle part).
    nonzero = w_parts != 0
    owner = torch.where(nonzero.any(0), nonzero.double().argmax(0), torch.full_like(w, len(group) // 2)).long()
    grids = [_grid(q) for q in quants]
    qmin, qmax = grids[0][3], grids[0][4]
    scale = torch.stack([g[0] for g in grids])[owner, torch.arange(shape[0])[:, None]]
    zero = torch.stack([g[1] for g in grids])[owner, torch.arange(shape[0])[:, None]]
    clipped = [q.weight.detach().double().reshape(shape[0], -1) for q in quants]
    forced = torch.full_like(w, float("nan"))
    for p, (cw, g) in enumerate(zip(clipped, grids, strict=True)):
        for idx in (cw.argmin(1), cw.argmax(1)):  # the entries that hold brevitas' statistics
            rows_ = torch.arange(shape[0])
            mine = owner[rows_, idx] == p
            forced[rows_[mine], idx[mine]] = g[2][rows_[mine], idx[mine]]
    codes = gptq_codes(w, hess, scale, zero, qmin, qmax, forced)
    deq = (codes - zero) * scale
    rtn = (torch.clamp(torch.round(w / scale) + zero, qmin, qmax) - zero) * scale
    ratio = output_error(w, deq, hess) / max(output_error(w, rtn, hess), 1e-300)
    with torch.no_grad():
        for p, (f, q, cw) in enumerate(zip(floats, quants, clipped, strict=True)):
            mine = owner == p
            part = torch.where(mine, deq, torch.zeros_like(deq))
            if qmin < 0:  # signed grids scale by max |w|, unsigned (shifted) ones by min and max
                hi = cw.abs().max(1, keepdim=True).values
                lo = -hi
            else:
                lo, hi = cw.min(1, keepdim=True).values, cw.max(1, keepdim=True).values
            handed = torch.where(mine, torch.minimum(torch.maximum(deq, lo), hi), cw)
            anchors = ~torch.isnan(forced) & mine
            handed = torch.where(anchors, cw, handed)
            f.weight.copy_(part.reshape(shape).to(f.weight.dtype))
            q.weight.copy_(handed.reshape(shape).to(q.weight.dtype))
            got = q.quant_weight().value.detach().double().reshape(shape[0], -1)
            if not torch.all((got - part).abs() <= 1e-3 * grids[p][0][:, None] + 1e-12):
                raise RuntimeError(f"splitquant gptq: brevitas moved the grid of layer {group[p]!r}")
        if float_mean is not None:
            _correct_bias(work, qmodel, group, w, deq, float_mean, row_sum / rows)
    return ratio


def _correct_bias(work: nn.Module, qmodel: nn.Module, group: list[str], w: torch.Tensor, deq: torch.Tensor,
                  float_mean: tuple, quant_mean: torch.Tensor) -> None:
    """Shift one part's bias (the merged bias is their sum) by the mean output change ``W E[x] - Q E[x_q]``."""
    _, fsum, frows = float_mean
    delta = w @ (fsum / frows) - deq @ quant_mean
    name = next((n for n in group[len(group) // 2:] + group if get_module(work, n).bias is not None), None)
    if name is None:  # no bias to shift: left as it is
        return
    for m in (get_module(work, name), get_module(qmodel, name)):
        m.bias.add_(delta.to(m.bias.dtype))
