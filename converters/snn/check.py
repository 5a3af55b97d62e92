"""Before any work: the model as a flat chain of layers, and every layer conversion cannot handle.

Supported: Conv2d (groups 1, dilation 1, zero padding), Linear, AvgPool2d or F.avg_pool2d (kernel ==
stride, no padding), Flatten, ReLU, ReLU6 (run as ReLU: the SNN's rate is capped at 1, i.e. at lambda_l,
not at 6), BatchNorm1d/2d straight after a Conv2d or Linear (folded into it), Dropout and Identity
(no-ops in eval). Every Conv2d / Linear but the last must be followed by a ReLU, since an IF
neuron cannot emit a negative rate. MaxPool2d is refused: a rate-coded max has no exact spiking
equivalent on Loihi; replace it with AvgPool2d and retrain.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class ChainLayer:
    index: int
    name: str
    op: Any  # an nn.Module, or the string "flatten" / "relu" for a functional call


@dataclass(frozen=True)
class Issue:
    index: int
    name: str
    type: str
    reason: str

    def __str__(self) -> str:
        return f"layer {self.index} ({self.name}: {self.type}): {self.reason}"


class UnsupportedModelError(ValueError):
    """The model holds layers the conversion cannot handle; ``issues`` lists them all."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("cannot convert to an SNN:\n  " + "\n  ".join(str(i) for i in issues))


_FLATTEN_FNS = {torch.flatten, "flatten", "view", "reshape"}
_RELU_FNS = {torch.relu, nn.functional.relu, "relu"}
_NOOPS = (nn.Dropout, nn.Dropout2d, nn.Identity)
_POOL_FNS = {nn.functional.avg_pool2d: nn.AvgPool2d, nn.functional.max_pool2d: nn.MaxPool2d}


def _op_type(op: Any) -> str:
    return op if isinstance(op, str) else type(op).__name__


def model_chain(model: nn.Module) -> tuple[list[ChainLayer], list[Issue]]:
    """Flatten ``model`` into a chain: nested Sequentials directly, anything else through torch.fx."""
    if isinstance(model, nn.Sequential):
        out: list[ChainLayer] = []

        def walk(seq: nn.Module, prefix: str) -> None:
            for name, child in seq.named_children():
                full = f"{prefix}{name}"
                if isinstance(child, nn.Sequential):
                    walk(child, full + ".")
                else:
                    out.append(ChainLayer(len(out), full, child))

        walk(model, "")
        return out, []
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # data-dependent control flow and the like
        return [], [Issue(0, type(model).__name__, "model", f"cannot trace it with torch.fx ({exc})")]
    modules = dict(gm.named_modules())
    chain: list[ChainLayer] = []
    issues: list[Issue] = []
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output", "get_attr") or _is_shape_query(node):
            continue
        # x.view(x.size(0), -1) reads x twice, but its size only: that is a flatten, not a branch
        tensor_args = [a for a in node.args if isinstance(a, torch.fx.Node) and not _is_shape_query(a)]
        users = [u for u in node.users if not _is_shape_query(u)]
        idx = len(chain)
        if len(tensor_args) > 1 or len(users) > 1:
            issues.append(Issue(idx, node.name, str(node.target), "branching (e.g. a residual add) is not a chain"))
        if node.op == "call_module":
            chain.append(ChainLayer(idx, str(node.target), modules[str(node.target)]))
        elif node.target in _FLATTEN_FNS or (node.op == "call_method" and node.target in _FLATTEN_FNS):
            chain.append(ChainLayer(idx, node.name, "flatten"))
        elif node.target in _RELU_FNS:
            chain.append(ChainLayer(idx, node.name, "relu"))
        elif node.target in _POOL_FNS and not any(isinstance(a, torch.fx.Node)
                                                 for a in (*node.args[1:], *node.kwargs.values())):
            # F.avg_pool2d(x, 2) is nn.AvgPool2d(2): checked and converted as that module
            chain.append(ChainLayer(idx, node.name, _POOL_FNS[node.target](*node.args[1:], **node.kwargs)))
        elif node.target is nn.functional.dropout:
            chain.append(ChainLayer(idx, node.name, nn.Identity()))  # traced in eval: a no-op
        elif node.target in (operator.getitem, getattr, "size"):
            continue  # shape queries feeding a view/reshape
        else:
            chain.append(ChainLayer(idx, node.name, str(getattr(node.target, "__name__", node.target))))
    return chain, issues


def _is_shape_query(node: torch.fx.Node) -> bool:
    """``x.size(...)``, ``x.shape``, ``x.dim()`` and indexing into them: sizes for a view, not data."""
    if node.op == "call_method" and node.target in ("size", "dim"):
        return True
    if node.op == "call_function" and node.target is getattr and node.args[1:2] in (("shape",), ("ndim",)):
        return True
    return (node.op == "call_function" and node.target is operator.getitem and isinstance(node.args[0], torch.fx.Node)
            and _is_shape_query(node.args[0]))


def check_model(model: nn.Module) -> list[Issue]:
    """Every layer the conversion cannot handle, with its index in the chain and the reason."""
    chain, issues = model_chain(model)
    synaptic = [c.index for c in chain if isinstance(c.op, (nn.Conv2d, nn.Linear))]
    if not synaptic:
        issues.append(Issue(0, "model", type(model).__name__, "has no Conv2d or Linear layer"))
    last = synaptic[-1] if synaptic else -1
    for pos, c in enumerate(chain):
        op = c.op
        nxt = [d.op for d in chain[pos + 1:] if not isinstance(d.op, _NOOPS)]
        after = nxt[0] if nxt else None
        if isinstance(after, (nn.BatchNorm1d, nn.BatchNorm2d)):
            after = nxt[1] if len(nxt) > 1 else None
        t = _op_type(op)
        if isinstance(op, nn.Conv2d):
            if op.groups != 1:
                issues.append(Issue(c.index, c.name, t, f"groups={op.groups}; only groups=1 is supported"))
            if tuple(op.dilation) != (1, 1):
                issues.append(Issue(c.index, c.name, t, f"dilation={tuple(op.dilation)}; only 1 is supported"))
            if isinstance(op.padding, str) and op.padding != "valid" and op.padding != "same":
                issues.append(Issue(c.index, c.name, t, f"padding={op.padding!r} is not supported"))
            if op.padding_mode != "zeros":
                issues.append(Issue(c.index, c.name, t, f"padding_mode={op.padding_mode!r}; only zeros"))
        if isinstance(op, (nn.Conv2d, nn.Linear)) and c.index != last and not (
            isinstance(after, (nn.ReLU, nn.ReLU6)) or after == "relu"
        ):
            issues.append(Issue(c.index, c.name, t, "not followed by a ReLU: an IF neuron cannot emit negative "
                                "rates (only the last layer may be linear)"))
        if isinstance(op, (nn.BatchNorm1d, nn.BatchNorm2d)):
            prev = [d.op for d in chain[:pos] if not isinstance(d.op, _NOOPS)]
            if not prev or not isinstance(prev[-1], (nn.Conv2d, nn.Linear)):
                issues.append(Issue(c.index, c.name, t, "BatchNorm must follow a Conv2d or Linear to be folded"))
        elif isinstance(op, nn.AvgPool2d):
            k = _pair(op.kernel_size)
            s = _pair(op.stride if op.stride is not None else op.kernel_size)
            if k != s or _pair(op.padding) != (0, 0) or op.ceil_mode:
                issues.append(Issue(c.index, c.name, t, "only AvgPool2d with stride == kernel, no padding, "
                                    "no ceil_mode"))
        elif isinstance(op, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
            issues.append(Issue(c.index, c.name, t, "MaxPool has no exact rate-coded spiking equivalent on Loihi; "
                                "replace it with AvgPool2d and retrain"))
        elif isinstance(op, (nn.Conv2d, nn.Linear, nn.ReLU, nn.ReLU6, nn.Flatten, nn.BatchNorm1d, nn.BatchNorm2d)):
            pass
        elif isinstance(op, _NOOPS) or op in ("flatten", "relu"):
            pass
        else:
            issues.append(Issue(c.index, c.name, t, "unsupported layer type (supported: Conv2d, Linear, AvgPool2d, "
                                "Flatten, ReLU, ReLU6, BatchNorm after Conv2d/Linear, Dropout)"))
    return sorted(set(issues), key=lambda i: (i.index, i.reason))


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))
