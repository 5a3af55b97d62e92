"""Which layers SplitQuant splits and brevitas quantises, and which are left in float (with a warning).

A layer is *quantisable* when its exact type is ``nn.Linear``, ``nn.Conv1d`` or ``nn.Conv2d``.
Subclasses are not: ``nn.MultiheadAttention``'s ``out_proj`` is a Linear subclass that the attention
reads by ``.weight`` directly, so swapping it would change nothing (or break the module).

A module is *opaque* when it is a leaf holding weights that brevitas' weight layers here do not cover
(``nn.Conv3d``, ``nn.ConvTranspose2d``, ``nn.Embedding``, a custom layer), or when it is known to bypass its child
modules (``nn.TransformerEncoderLayer``'s fused eval fast path reads the weights of its Linear layers
without calling them, so a brevitas layer inside it would never run). Opaque modules are left in float,
named in a warning, and never descended into.
"""

from __future__ import annotations

import warnings

from torch import nn

QUANTISABLE: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d)

# Float by design: normalisation keeps its few parameters in float in every weight-only scheme.
FLOAT_BY_DESIGN: tuple[type[nn.Module], ...] = (
    nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm1d, nn.InstanceNorm2d,
)

# These reach their children's weights without calling them, so quantising the children is a lie.
BYPASSES_CHILDREN: tuple[type[nn.Module], ...] = (
    nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
    nn.TransformerEncoder, nn.TransformerDecoder, nn.Transformer, nn.RNNBase,
)  # nn.RNNBase: LSTM, GRU, RNN


class SplitQuantWarning(UserWarning):
    """A layer that stays in float."""


class NoQuantisableLayerError(ValueError):
    """The model has no layer that SplitQuant can split or brevitas can quantise."""


def is_quantisable(module: nn.Module) -> bool:
    return type(module) in QUANTISABLE


def _is_opaque(module: nn.Module) -> bool:
    if isinstance(module, BYPASSES_CHILDREN):
        return True
    if is_quantisable(module) or isinstance(module, FLOAT_BY_DESIGN):
        return False
    # A leaf with weights of its own (Conv3d, ConvTranspose2d, Embedding, a custom layer) stays float.
    # A container's own parameters (a learned position table, say) are added, not multiplied: not layers.
    has_params = any(True for _ in module.parameters(recurse=False))
    return has_params and not any(True for _ in module.children())


def walk(model: nn.Module) -> tuple[list[str], list[tuple[str, str]]]:
    """``(quantisable, opaque)``: qualified names of quantisable layers, and ``(name, type)`` of opaque ones.

    The walk stops at a quantisable or opaque module (it does not look inside either).
    """
    quantisable: list[str] = []
    opaque: list[tuple[str, str]] = []

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            full = f"{prefix}.{name}" if prefix else name
            if is_quantisable(child):
                quantisable.append(full)
            elif _is_opaque(child):
                opaque.append((full, type(child).__name__))
            else:
                visit(child, full)

    if is_quantisable(model):
        quantisable.append("")
    elif _is_opaque(model):
        opaque.append(("", type(model).__name__))
    else:
        visit(model, "")
    return quantisable, opaque


def warn_opaque(opaque: list[tuple[str, str]]) -> None:
    for name, kind in opaque:
        hint = (
            " (its fused/in-place weights bypass brevitas; build attention from plain nn.Linear q/k/v/out, "
            "as examples/models/tiny_transformer.py does)"
            if kind in {c.__name__ for c in BYPASSES_CHILDREN}
            else ""
        )
        warnings.warn(
            f"splitquant: layer {name or '<model>'!r} ({kind}) cannot be quantised by brevitas here; "
            f"left in float{hint}",
            SplitQuantWarning,
            stacklevel=3,
        )


def require_quantisable(model: nn.Module) -> tuple[list[str], list[tuple[str, str]]]:
    """``walk(model)``, warning about opaque layers; raises when nothing is quantisable."""
    quantisable, opaque = walk(model)
    warn_opaque(opaque)
    if not quantisable:
        found = sorted({type(m).__name__ for m in model.modules()})
        raise NoQuantisableLayerError(
            "splitquant: the model has no nn.Linear, nn.Conv1d or nn.Conv2d layer to split or quantise "
            f"(module types found: {', '.join(found)})"
        )
    return quantisable, opaque


def get_module(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name) if name else model


def set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    setattr(get_module(model, parent_name), attr, new)
