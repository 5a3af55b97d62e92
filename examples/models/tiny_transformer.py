"""A BERT-Tiny-shaped encoder on sklearn's digits: 2 layers, hidden 128, 2 heads, FFN 512.

An image of 8x8 pixels is read as 8 tokens (its rows) of 8 pixels. Attention is built from plain
``nn.Linear`` q/k/v/out projections and written out by hand, so that every projection is a layer a
quantiser can swap. ``nn.TransformerEncoderLayer`` would not do: in eval mode its fused fast path reads
the weights directly and bypasses any quantised layer inside it, and ``nn.MultiheadAttention`` keeps
q/k/v in one ``in_proj_weight`` that is not an ``nn.Linear``.

Input ``[N, 64]`` (pixels in [0, 1]); output ``[N, 10]`` logits.
"""

from __future__ import annotations

import math

import torch
from torch import nn

TOKENS, TOKEN_DIM = 8, 8


class SelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_head)) V per head, with Q, K, V, and the output as separate nn.Linear."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden {hidden} is not divisible by heads {heads}")
        self.heads, self.d_head = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:  # [N, T, H] -> [N, heads, T, d_head]
        n, t, _ = x.shape
        return x.reshape(n, t, self.heads, self.d_head).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (self._split_heads(f(x)) for f in (self.query, self.key, self.value))
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.d_head), dim=-1)
        ctx = (attn @ v).transpose(1, 2).reshape(x.shape)
        return self.out(ctx)


class EncoderLayer(nn.Module):
    """Post-norm BERT block: x = LN(x + Attn(x)); x = LN(x + W2 GELU(W1 x))."""

    def __init__(self, hidden: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.attention = SelfAttention(hidden, heads)
        self.norm1 = nn.LayerNorm(hidden)
        self.ffn_in = nn.Linear(hidden, ffn)
        self.ffn_out = nn.Linear(ffn, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.ffn_out(self.act(self.ffn_in(x))))


class TinyTransformer(nn.Module):
    """Token embedding (nn.Linear 8 -> hidden) + learned positions, encoder layers, mean pool, classifier."""

    def __init__(self, layers: int = 2, hidden: int = 128, heads: int = 2, ffn: int = 512,
                 classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Linear(TOKEN_DIM, hidden)
        self.position = nn.Parameter(torch.zeros(1, TOKENS, hidden))
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ffn) for _ in range(layers))
        self.classifier = nn.Linear(hidden, classes)
        nn.init.normal_(self.position, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.embed(x.reshape(-1, TOKENS, TOKEN_DIM)) + self.position)
        for layer in self.layers:
            h = layer(h)
        return self.classifier(h.mean(dim=1))


def tiny_transformer() -> nn.Module:
    """BERT-Tiny shape: 2 layers, hidden 128, 2 heads, FFN 512. Input [N, 64]."""
    return TinyTransformer()


INPUT_SHAPE = (1, 64)
