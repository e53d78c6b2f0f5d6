"""The DiT/SiT backbone with per-token time conditioning and a difficulty head (SPEC.md section 2).

Conditioning c_i = emb(t_i) + emb(y) is per token, so every adaLN shift / scale / gate is per token.
At inference most tokens share a few distinct (t, y) pairs; :class:`Conditioning` stores the distinct
rows once and an index that gathers them, so the D x 6D modulation matmul runs once per distinct pair.
When every token of a sample shares its time the modulation is computed per sample and broadcast,
which is exactly the global-time (SiT) cost.

Inside :meth:`PatchForcingDiT.reuse_buffers` (the samplers enter it), no-grad forwards gather into
one :class:`GatherBuffer` instead of a fresh (6, B, N, D) tensor per block. On CPU the fresh tensors
are large enough that the C allocator maps them from and returns them to the OS every time, and the
page faults cost about as much as the gather itself (see docs/samplers.md, "Speed").
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from patchforcing.model.config import ModelConfig
from patchforcing.model.embed import LabelEmbedder, PatchEmbed, TimestepEmbedder, sincos_pos_embed_2d
from patchforcing.path import patch_difficulty, unpatchify

__all__ = ["ModelOutput", "Conditioning", "GatherBuffer", "PatchForcingDiT"]


@dataclass(frozen=True)
class ModelOutput:
    """Velocity and, for Patch Forcing models, the per-pixel log-variance of its error."""

    v: torch.Tensor  # (B, C, H, W)
    logvar: torch.Tensor | None  # (B, 1, H, W), None without a difficulty head

    def difficulty(self, patch_size: int) -> torch.Tensor:
        """Per-patch difficulty: mean of exp(logvar) over each p x p patch, (B, N)."""
        if self.logvar is None:
            raise ValueError("this model has no difficulty head")
        return patch_difficulty(self.logvar, patch_size)


class GatherBuffer:
    """One flat tensor reused by every gather of an inference scope; grows when a gather needs more."""

    def __init__(self) -> None:
        self.data: torch.Tensor | None = None

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A contiguous tensor of ``shape`` with ``like``'s dtype and device (contents undefined)."""
        n = math.prod(shape)
        data = self.data
        if data is None or data.numel() < n or data.dtype != like.dtype or data.device != like.device:
            data = self.data = torch.empty(n, dtype=like.dtype, device=like.device)
        return data[:n].view(shape)


@dataclass(frozen=True)
class Conditioning:
    """Distinct conditioning rows and how tokens pick them.

    ``rows`` is (M, D). With ``index`` None there is one row per sample (M = B) shared by all its
    tokens; otherwise ``index`` (B, N) names the row of every token. ``buffer``, when set, receives
    the gathered values (each gather overwrites the previous one).
    """

    rows: torch.Tensor  # (M, D)
    index: torch.Tensor | None  # (B, N) or None
    buffer: GatherBuffer | None = None

    def gather(self, per_row: torch.Tensor, chunks: int) -> tuple[torch.Tensor, ...]:
        """Row values (M, chunks * D) -> ``chunks`` per-token tensors (B, N, D), or (B, 1, D) views
        when shared per sample. Each gathered chunk is contiguous, so the modulation is cheap."""
        if self.index is None:
            return per_row[:, None, :].chunk(chunks, dim=-1)
        M, K = per_row.shape
        B, N = self.index.shape
        by_chunk = per_row.view(M, chunks, K // chunks).transpose(0, 1)  # (chunks, M, D)
        flat = self.index.reshape(-1)  # (B*N,)
        if self.buffer is None:
            gathered = by_chunk.index_select(1, flat)  # (chunks, B*N, D)
        else:
            out = self.buffer.take((chunks, B * N, K // chunks), per_row)
            gathered = torch.index_select(by_chunk, 1, flat, out=out)
        return gathered.view(chunks, B, N, -1).unbind(0)


def modulation_rows(layer: nn.Module, cond: Conditioning, chunks: int, scale_chunks: tuple[int, ...]) -> torch.Tensor:
    """adaLN values of the distinct rows (M, chunks * D), with 1 already added to the scale chunks,
    so that per-token work is one fused multiply-add per modulation."""
    rows = layer(cond.rows)  # (M, chunks * D)
    by_chunk = rows.view(rows.shape[0], chunks, -1)  # (M, chunks, D)
    by_chunk[:, list(scale_chunks)] += 1
    return rows


def modulate(x: torch.Tensor, shift: torch.Tensor, scale_plus_one: torch.Tensor) -> torch.Tensor:
    """x * (1 + scale) + shift as one fused op on per-token (or per-sample broadcast) values."""
    return torch.addcmul(shift, x, scale_plus_one)


class Attention(nn.Module):
    """Multi-head self-attention with fused SDPA."""

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, nh, N, hs)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, nh, N, hs)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class DiTBlock(nn.Module):
    """adaLN-Zero block; modulation chunks in the order shift/scale/gate (attn), shift/scale/gate (mlp)."""

    def __init__(self, width: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, num_heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(width, int(width * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        mod = cond.gather(modulation_rows(self.adaLN_modulation, cond, 6, (1, 4)), 6)  # 6 x (B, N or 1, D)
        shift_a, scale1_a, gate_a, shift_m, scale1_m, gate_m = mod  # scale1 = 1 + scale
        x = torch.addcmul(x, gate_a, self.attn(modulate(self.norm1(x), shift_a, scale1_a)))
        return torch.addcmul(x, gate_m, self.mlp(modulate(self.norm2(x), shift_m, scale1_m)))  # (B, N, D)


class FinalLayer(nn.Module):
    def __init__(self, width: int, patch_size: int, out_channels: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(width, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))

    def forward(self, x: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        shift, scale1 = cond.gather(modulation_rows(self.adaLN_modulation, cond, 2, (1,)), 2)  # 2 x (B, N or 1, D)
        return self.linear(modulate(self.norm_final(x), shift, scale1))  # (B, N, p*p*C_out)


class PatchForcingDiT(nn.Module):
    """DiT with per-token time. ``forward(x, t, y)`` accepts t of shape (B,) or (B, N)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.x_embedder = PatchEmbed(c.patch_size, c.in_channels, c.width)
        self.t_embedder = TimestepEmbedder(c.width, c.frequency_dim)
        self.y_embedder = LabelEmbedder(c.num_classes, c.width)
        self.register_buffer("pos_embed", sincos_pos_embed_2d(c.width, c.grid_size, c.grid_size))
        self.blocks = nn.ModuleList(DiTBlock(c.width, c.num_heads, c.mlp_ratio) for _ in range(c.depth))
        self.final_layer = FinalLayer(c.width, c.patch_size, c.out_channels)
        self._gather_buffer: GatherBuffer | None = None
        self.reset_parameters()

    @property
    def null_class(self) -> int:
        return self.config.num_classes

    @contextmanager
    def reuse_buffers(self) -> Iterator[None]:
        """Scope in which no-grad forwards on mixed per-token time share one gather buffer (freed on
        exit; a nested scope keeps the outer one). Forwards with gradients never use it. The buffer
        belongs to this model instance: do not run forwards of one model from several threads at once
        inside the scope."""
        if self._gather_buffer is not None:
            yield
            return
        self._gather_buffer = GatherBuffer()
        try:
            yield
        finally:
            self._gather_buffer = None

    def reset_parameters(self) -> None:
        """DiT initialisation: xavier linears, N(0, 0.02) embeddings, zero adaLN and output layers."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        for layer in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def check_inputs(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Validate shapes; returns t as (B, N)."""
        c = self.config
        expected = (c.in_channels, c.image_size, c.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"expected x of shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        B = x.shape[0]
        if t.dim() == 1:
            t = t[:, None].expand(-1, c.num_patches)
        if tuple(t.shape) != (B, c.num_patches):
            raise ValueError(f"expected t of shape ({B},) or ({B}, {c.num_patches}), got {tuple(t.shape)}")
        if tuple(y.shape) != (B,):
            raise ValueError(f"expected labels y of shape ({B},), got {tuple(y.shape)}")
        return t

    def conditioning(self, t: torch.Tensor, y: torch.Tensor, cache: bool = True) -> Conditioning:
        """c_i = emb(t_i) + emb(y) for (B, N) times, stored as distinct rows plus an index.

        With ``cache=False`` every token gets its own row (the plain per-token computation).
        """
        B, N = t.shape
        buffer = None if torch.is_grad_enabled() or torch.compiler.is_compiling() else self._gather_buffer
        if cache and bool((t == t[:, :1]).all()):
            return Conditioning(rows=self.t_embedder(t[:, 0]) + self.y_embedder(y), index=None)
        if self.config.time_mode == "global":
            raise ValueError("a global-time model got different times for the patches of one sample")
        y_tok = y[:, None].expand(B, N).reshape(-1)  # (B*N,)
        if not cache:
            rows = self.t_embedder(t.reshape(-1)) + self.y_embedder(y_tok)  # (B*N, D)
            return Conditioning(rows=rows, index=torch.arange(B * N, device=t.device).view(B, N), buffer=buffer)
        # Distinct (t, y) pairs via two 1-D uniques (sort-based; unique over rows is a slow loop on CPU).
        t_values, t_index = torch.unique(t.reshape(-1), return_inverse=True)  # (T,), (B*N,)
        K = self.config.num_classes + 1
        keys, inverse = torch.unique(t_index * K + y_tok, return_inverse=True)  # (M,), (B*N,)
        rows = self.t_embedder(t_values[keys // K]) + self.y_embedder(keys % K)  # (M, D)
        return Conditioning(rows=rows, index=inverse.view(B, N), buffer=buffer)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor,
                cache_modulation: bool = True) -> ModelOutput:
        """x (B, C, H, W), t (B,) or (B, N) in [0, 1], y (B,) labels (null = num_classes)."""
        t = self.check_inputs(x, t, y)
        c = self.config
        cond = self.conditioning(t, y, cache=cache_modulation)
        h = self.x_embedder(x) + self.pos_embed.to(x.dtype)  # (B, N, D)
        for block in self.blocks:
            h = block(h, cond)
        out = unpatchify(self.final_layer(h, cond), c.patch_size, c.image_size, c.image_size)  # (B, C_out, H, W)
        v = out[:, : c.in_channels]
        logvar = out[:, c.in_channels:] if c.difficulty_head else None
        return ModelOutput(v=v, logvar=logvar)
