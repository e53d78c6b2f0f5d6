"""Building blocks of the text-to-image model: the time mapping network and the image block with
cross-attention to the text (SPEC.md section 6); its output layer is the class
model's FinalLayer."""

from __future__ import annotations

import torch
from torch import nn

from patchforcing.model.conditioning import Conditioning
from patchforcing.model.dit import Attention, Mlp
from patchforcing.model.embed import TimestepEmbedder
from patchforcing.model.refiner import CrossAttention
from patchforcing.model.rope import Rotary

__all__ = ["MappingNetwork", "TextDiTBlock"]


class MappingNetwork(TimestepEmbedder):
    """Sinusoidal features of a token's time, then ``layers`` linear layers of ``width`` with SiLU
    between them (``layers=2`` is the class model's timestep MLP)."""

    def __init__(self, width: int, frequency_dim: int, layers: int) -> None:
        super().__init__(width, frequency_dim)
        hidden = [
            layer for _ in range(layers - 1) for layer in (nn.SiLU(), nn.Linear(width, width))
        ]
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, width), *hidden)


class TextDiTBlock(nn.Module):
    """adaLN-Zero block with self-attention (2-D rotary), cross-attention to the text and an MLP.

    Modulation chunks, each per token from its time: shift / scale / gate of the self-attention
    (0-2), of the cross-attention (3-5) and of the MLP (6-8). The zero-initialised gates make a new
    block the identity, its cross-attention included.
    """

    def __init__(
        self, width: int, num_heads: int, mlp_ratio: float, text_width: int, cond_width: int
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, num_heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.cross = CrossAttention(width, text_width, num_heads)
        self.norm3 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(width, int(width * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_width, 9 * width))

    def forward(
        self,
        x: torch.Tensor,
        cond: Conditioning,
        rope: Rotary,
        text: torch.Tensor,
        text_mask: torch.Tensor,
    ) -> torch.Tensor:
        """x (B, N, D) in the layout of ``cond`` (and ``rope``), text (B, L, D_text), text_mask
        (B, L)."""
        mod = cond.modulation(
            self.adaLN_modulation, 9, (1, 4, 7)
        )  # chunks: shift, 1 + scale, gate (x3)
        x = mod.gated_add(x, 2, self.attn(mod.modulate(self.norm1(x), 0, 1), rope))
        x = mod.gated_add(x, 5, self.cross(mod.modulate(self.norm2(x), 3, 4), text, text_mask))
        return mod.gated_add(x, 8, self.mlp(mod.modulate(self.norm3(x), 6, 7)))  # (B, N, D)
