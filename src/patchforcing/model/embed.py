"""Embeddings: patches, per-token times, class labels (with a null row) and fixed positions."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PatchEmbed", "TimestepEmbedder", "LabelEmbedder", "sincos_pos_embed_2d"]


class PatchEmbed(nn.Module):
    """(B, C, H, W) -> (B, N, D) with a strided conv, patches in row-major order."""

    def __init__(self, patch_size: int, in_channels: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, width, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Contiguous: elementwise ops keep their first input's layout, so a transposed view here
        # would make the whole residual stream transposed and every LayerNorm copy it.
        return self.proj(x).flatten(2).transpose(1, 2).contiguous()  # (B, N, D)


class TimestepEmbedder(nn.Module):
    """Sinusoidal features of raw t in [0, 1] (max period 1e4) followed by a 2-layer MLP."""

    def __init__(self, width: int, frequency_dim: int = 256, max_period: float = 10_000.0) -> None:
        super().__init__()
        self.frequency_dim = frequency_dim
        self.max_period = max_period
        self.mlp = nn.Sequential(
            nn.Linear(frequency_dim, width), nn.SiLU(), nn.Linear(width, width)
        )

    def features(self, t: torch.Tensor) -> torch.Tensor:
        """(M,) -> (M, frequency_dim): cos features then sin features."""
        half = self.frequency_dim // 2
        exponent = torch.arange(half, device=t.device, dtype=torch.float32) / half
        freqs = torch.exp(-math.log(self.max_period) * exponent)  # (half,)
        args = t.float()[:, None] * freqs[None]  # (M, half)
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        feats = self.features(t).to(
            next(self.mlp.parameters()).dtype
        )  # the first linear's weight dtype
        return self.mlp(feats)  # (M, D)


class LabelEmbedder(nn.Module):
    """Class table with one extra row (index ``num_classes``) for the null label used by CFG."""

    def __init__(self, num_classes: int, width: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embedding_table = nn.Embedding(num_classes + 1, width)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.embedding_table(y)  # (M, D)


def _sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(M,) positions -> (M, dim): sin features then cos features."""
    omega = 1.0 / 10_000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    args = positions.double()[:, None] * omega[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def sincos_pos_embed_2d(width: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """Fixed 2-D sin-cos embedding (1, grid_h * grid_w, width), row-major token order.

    The first half of the channels encodes the column, the second half the row (DiT's layout).
    """
    rows, cols = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
    emb = torch.cat(
        [_sincos_1d(width // 2, cols.flatten()), _sincos_1d(width // 2, rows.flatten())], dim=1
    )
    return emb.float()[None]  # (1, N, D)
