"""Rotary position embeddings: 1-D for text tokens, 2-D (row, column) for image patches.

A head vector of size hs is split into halves (x1, x2) and each pair (x1_j, x2_j) is rotated by the
angle pos * f_j, so a query-key product depends only on the difference of their positions. In 2-D
the first hs / 4 frequencies rotate by the patch row and the last hs / 4 by its column. A table
holds [cos | sin] of the angles per token, (L, hs); because the model may reorder its image tokens
(see :class:`~patchforcing.model.conditioning.SegmentConditioning`), a table is laid out per sample,
(B, L, hs), with the same call as the tokens before it is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ROPE_BASE", "Rotary", "rotary_table_1d", "rotary_table_2d"]

ROPE_BASE = 10_000.0


def _frequencies(count: int, base: float) -> torch.Tensor:
    """(count,) frequencies base ** (-j / count)."""
    return base ** (-torch.arange(count, dtype=torch.float64) / count)


def _table(angles: torch.Tensor) -> torch.Tensor:
    """Angles (L, hs / 2) -> [cos | sin] (L, hs), float32."""
    return torch.cat([angles.cos(), angles.sin()], dim=-1).float()


def rotary_table_1d(length: int, head_dim: int, base: float = ROPE_BASE) -> torch.Tensor:
    """Table (length, head_dim) of positions 0 .. length - 1, on the CPU (float64 angles, which not
    every accelerator has)."""
    if head_dim % 2:
        raise ValueError(f"1-D rotary embeddings need an even head size, got {head_dim}")
    positions = torch.arange(length, dtype=torch.float64)  # (L,)
    return _table(positions[:, None] * _frequencies(head_dim // 2, base)[None])


def rotary_table_2d(
    grid_h: int, grid_w: int, head_dim: int, base: float = ROPE_BASE
) -> torch.Tensor:
    """Table (grid_h * grid_w, head_dim) of the patches in row-major order, on the CPU."""
    if head_dim % 4:
        raise ValueError(f"2-D rotary embeddings need a head size divisible by 4, got {head_dim}")
    rows, cols = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    freqs = _frequencies(head_dim // 4, base)  # (hs / 4,)
    angles = torch.cat(
        [rows.reshape(-1, 1) * freqs, cols.reshape(-1, 1) * freqs], dim=1
    )  # (N, hs / 2)
    return _table(angles)


@dataclass(frozen=True)
class Rotary:
    """cos and sin (B or 1, 1, L, hs / 2), broadcast over the heads."""

    cos: torch.Tensor
    sin: torch.Tensor

    @classmethod
    def from_table(cls, table: torch.Tensor, dtype: torch.dtype) -> Rotary:
        """From a table (L, hs) or (B, L, hs)."""
        table = table.to(dtype)
        if table.dim() == 2:
            table = table[None]
        cos, sin = table[:, None].chunk(2, dim=-1)  # each (B, 1, L, hs / 2)
        return cls(cos, sin)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate queries or keys x (B, nh, L, hs)."""
        x1, x2 = x.chunk(2, dim=-1)  # each (B, nh, L, hs / 2)
        return torch.cat([x1 * self.cos - x2 * self.sin, x1 * self.sin + x2 * self.cos], dim=-1)
