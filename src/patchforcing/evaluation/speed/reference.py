"""A plain per-token adaLN DiT, the yardstick of the training-speed comparison (SPEC.md section 2).

The textbook computation, with nothing of the library's model but its config: every token's time
goes through the sinusoidal features and a 2-layer MLP, the label embedding is added, and each block
maps the (B, N, D) conditioning to (B, N, 6D) adaLN values by one Linear and modulates with
``x * (1 + scale) + shift``; attention is ``F.scaled_dot_product_attention``. No distinct-row
gathers, no segments, no caches. Parameter names are the DiT ones the library's model also uses,
so ``reference.load_state_dict(model.state_dict())`` copies a model into it and both compute the
same function.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from patchforcing.core.protocol import ModelOutput
from patchforcing.model import ModelConfig
from patchforcing.model.embed import sincos_pos_embed_2d

__all__ = ["ReferenceDiT"]


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class _Embedder(nn.Module):
    """Patches (B, C, H, W) -> tokens (B, N, D)."""

    def __init__(self, patch_size: int, in_channels: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, width, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class _TimeEmbedder(nn.Module):
    """Raw t in [0, 1] (any shape) -> cos / sin features (max period 1e4) -> 2-layer MLP."""

    def __init__(self, width: int, frequency_dim: int) -> None:
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(
            nn.Linear(frequency_dim, width), nn.SiLU(), nn.Linear(width, width)
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.frequency_dim // 2
        freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device) / half)
        args = t.float()[..., None] * freqs
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class _LabelEmbedder(nn.Module):
    def __init__(self, num_classes: int, width: int) -> None:
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, width)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.embedding_table(y)


class _Attention(nn.Module):
    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, nh, N, hs)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class _Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class _Block(nn.Module):
    def __init__(self, width: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = _Attention(width, num_heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = _Mlp(width, int(width * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x, c (B, N, D)."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=-1)
        x = x + gate1 * self.attn(_modulate(self.norm1(x), shift1, scale1))
        return x + gate2 * self.mlp(_modulate(self.norm2(x), shift2, scale2))


class _FinalLayer(nn.Module):
    def __init__(self, width: int, patch_size: int, out_channels: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(width, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(_modulate(self.norm_final(x), shift, scale))


class ReferenceDiT(nn.Module):
    """``forward(x (B, C, H, W), t (B, N), y (B,))`` -> velocity and log-variance, like
    :class:`~patchforcing.model.PatchForcingDiT` of the same ``config`` (patch-time models)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        self.x_embedder = _Embedder(c.patch_size, c.in_channels, c.width)
        self.t_embedder = _TimeEmbedder(c.width, c.frequency_dim)
        self.y_embedder = _LabelEmbedder(c.num_classes, c.width)
        self.register_buffer("pos_embed", sincos_pos_embed_2d(c.width, c.grid_size, c.grid_size))
        self.blocks = nn.ModuleList(
            _Block(c.width, c.num_heads, c.mlp_ratio) for _ in range(c.depth)
        )
        self.final_layer = _FinalLayer(c.width, c.patch_size, c.out_channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> ModelOutput:
        c = self.config
        B, N = x.shape[0], c.num_patches
        cond = self.t_embedder(t.expand(B, N)) + self.y_embedder(y)[:, None]  # (B, N, D)
        h = self.x_embedder(x) + self.pos_embed  # (B, N, D)
        for block in self.blocks:
            h = block(h, cond)
        out = self.final_layer(h, cond)  # (B, N, p * p * C_out)
        p, g, C = c.patch_size, c.grid_size, c.out_channels
        out = out.reshape(B, g, g, p, p, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, g * p, g * p)
        return ModelOutput.split(out, c.in_channels, c.difficulty_head)
