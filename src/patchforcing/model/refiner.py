"""Cross-attention to text, and the text refiner (SPEC.md section 6); self-attention with rotary
positions and key masks is the class model's :class:`~patchforcing.model.dit.Attention`.

The refiner is a small pre-norm transformer over the embedded text tokens (1-D rotary positions,
padding masked out as keys) whose output the image blocks attend to through :class:`CrossAttention`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from patchforcing.model.dit import Attention, Mlp, key_mask
from patchforcing.model.rope import Rotary, rotary_table_1d

__all__ = ["CrossAttention", "RefinerBlock", "TextRefiner"]


class CrossAttention(nn.Module):
    """Image tokens (queries, width D) attend to text tokens (keys and values, width D_text)."""

    def __init__(self, width: int, text_width: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(text_width, 2 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, N, D), text (B, L, D_text), mask (B, L) True at real tokens -> (B, N, D)."""
        B, N, D = x.shape
        hs = D // self.num_heads
        q = self.q(x).view(B, N, self.num_heads, hs).transpose(1, 2)  # (B, nh, N, hs)
        k, v = (
            self.kv(text).view(B, -1, 2, self.num_heads, hs).permute(2, 0, 3, 1, 4)
        )  # each (B, nh, L, hs)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask(mask))  # (B, nh, N, hs)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class RefinerBlock(nn.Module):
    """Pre-norm transformer block over text tokens."""

    def __init__(self, width: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = Attention(width, num_heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = Mlp(width, int(width * mlp_ratio))

    def forward(self, h: torch.Tensor, rope: Rotary, mask: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.norm1(h), rope, mask)
        return h + self.mlp(self.norm2(h))  # (B, L, D_text)


class TextRefiner(nn.Module):
    """``depth`` refiner blocks and a final LayerNorm; padded positions never act as keys."""

    def __init__(self, width: int, depth: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.head_dim = width // num_heads
        self.blocks = nn.ModuleList(RefinerBlock(width, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """h (B, L, D_text) embedded tokens, mask (B, L) -> refined tokens (B, L, D_text)."""
        rope = Rotary.from_table(rotary_table_1d(h.shape[1], self.head_dim).to(h.device), h.dtype)
        for block in self.blocks:
            h = block(h, rope, mask)
        return self.norm(h)
