"""The DiT/SiT backbone with per-token time conditioning and a difficulty head (SPEC.md section 2).

Conditioning c_i = emb(t_i) + emb(y) is per token, so every adaLN shift / scale / gate is per token.
:meth:`PatchForcingDiT.conditioning` picks the cheapest layout for the times it is given (one row
per sample, per-segment rows, or distinct rows gathered per token; see
:mod:`patchforcing.model.conditioning`); the blocks only see its modulate / gated-add operations.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from patchforcing.core.path import unpatchify
from patchforcing.core.protocol import ModelOutput
from patchforcing.model.base import PatchGenerator, init_linears
from patchforcing.model.conditioning import (
    Conditioning,
    GatheredConditioning,
    SegmentConditioning,
    TokenConditioning,
    time_segments,
)
from patchforcing.model.config import ModelConfig
from patchforcing.model.embed import (
    LabelEmbedder,
    PatchEmbed,
    TimestepEmbedder,
    sincos_pos_embed_2d,
)
from patchforcing.model.pretrained import PretrainedMixin
from patchforcing.model.rope import Rotary

__all__ = ["ModelOutput", "PatchForcingDiT"]


def key_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Keys allowed (B, L) -> an SDPA mask (B, 1, 1, L)."""
    return None if mask is None else mask[:, None, None, :]


class Attention(nn.Module):
    """Multi-head self-attention with fused SDPA; optionally rotary positions on queries and keys
    (the text model) and a mask of the keys allowed (B, N) (padded text tokens)."""

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(
        self, x: torch.Tensor, rope: Rotary | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, nh, N, hs)
        if rope is not None:
            q, k = rope.apply(q), rope.apply(k)
        if q.dtype == torch.bfloat16 and q.device.type == "cpu" and torch.is_grad_enabled():
            # The CPU's bf16 SDPA backward takes about 7x the fp32 one's time (its forward costs
            # the same): with gradients, attend in fp32, outside autocast (which would cast back).
            with torch.autocast("cpu", enabled=False):
                out = F.scaled_dot_product_attention(
                    q.float(), k.float(), v.float(), attn_mask=key_mask(mask)
                )
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask(mask))
        # out: (B, nh, N, hs)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class DiTBlock(nn.Module):
    """adaLN-Zero block; modulation chunks in the order shift/scale/gate (attn),
    shift/scale/gate (mlp)."""

    def __init__(self, width: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, num_heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(width, int(width * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        mod = cond.modulation(
            self.adaLN_modulation, 6, (1, 4)
        )  # chunks: shift, 1 + scale, gate (x2)
        x = mod.gated_add(x, 2, self.attn(mod.modulate(self.norm1(x), 0, 1)))
        return mod.gated_add(x, 5, self.mlp(mod.modulate(self.norm2(x), 3, 4)))  # (B, N, D)


class FinalLayer(nn.Module):
    """Modulated LayerNorm and the linear map to p * p * C_out values per patch; ``cond_width`` is
    the width of the conditioning rows when it differs from the tokens' (the text model's
    mapping network)."""

    def __init__(
        self, width: int, patch_size: int, out_channels: int, cond_width: int | None = None
    ) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(width, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_width or width, 2 * width))

    def forward(self, x: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        mod = cond.modulation(self.adaLN_modulation, 2, (1,))  # chunks: shift, 1 + scale
        return self.linear(mod.modulate(self.norm_final(x), 0, 1))  # (B, N, p*p*C_out)


def _zero(module: nn.Module) -> None:
    for param in module.parameters():
        nn.init.zeros_(param)


class PatchForcingDiT(PatchGenerator, PretrainedMixin):
    """DiT with per-token time. ``forward(x, t, y)`` accepts t of shape (B,) or (B, N).

    ``forward(x, t, y) -> ModelOutput``: x (B, C, H, W), t in [0, 1] per image (B,) or per patch
    (B, N), y class labels (B,) (``num_classes`` is the null label of guidance); the output holds
    the velocity ``v`` (B, C, H, W) and, with a difficulty head, ``logvar`` (B, 1, H, W).

    ``PatchForcingDiT.from_pretrained(name_or_folder)`` / ``model.save_pretrained(folder)`` read and
    write model folders (:mod:`patchforcing.model.pretrained`).

    Example::

        model = PatchForcingDiT(model_config_from_preset("T/4", image_size=28, in_channels=1))
        out = model(torch.randn(2, 1, 28, 28), torch.rand(2, 49), torch.tensor([0, 3]))
        out.v.shape, out.logvar.shape  # (2, 1, 28, 28), (2, 1, 28, 28)
    """

    model_type: ClassVar[str] = "patchforcing-dit"

    @classmethod
    def config_from_architecture(cls, values: dict[str, Any]) -> ModelConfig:
        return ModelConfig(**values)

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.x_embedder = PatchEmbed(c.patch_size, c.in_channels, c.width)
        self.t_embedder = TimestepEmbedder(c.width, c.frequency_dim)
        self.y_embedder = LabelEmbedder(c.num_classes, c.width)
        self.register_buffer("pos_embed", sincos_pos_embed_2d(c.width, c.grid_size, c.grid_size))
        self.blocks = nn.ModuleList(
            DiTBlock(c.width, c.num_heads, c.mlp_ratio) for _ in range(c.depth)
        )
        self.final_layer = FinalLayer(c.width, c.patch_size, c.out_channels)
        self.reset_parameters()

    @property
    def null_class(self) -> int:
        return self.config.num_classes

    def reset_parameters(self) -> None:
        """DiT initialisation: xavier linears, N(0, 0.02) embeddings, zero adaLN and
        output layers."""
        init_linears(self, self.x_embedder)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        for layer in self.t_embedder.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.normal_(layer.weight, std=0.02)
        for module in self.modules():
            if isinstance(
                module, (DiTBlock, FinalLayer)
            ):  # adaLN-Zero: every block starts as the identity
                _zero(module.adaLN_modulation)
        _zero(self.final_layer.linear)

    def check_inputs(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Validate shapes; returns t as (B, N)."""
        t = self.config.check_image_and_time(x, t)
        B = x.shape[0]
        if tuple(y.shape) != (B,):
            raise ValueError(f"expected labels y of shape ({B},), got {tuple(y.shape)}")
        return t

    def conditioning(self, t: torch.Tensor, y: torch.Tensor, cache: bool = True) -> Conditioning:
        """c_i = emb(t_i) + emb(y) for (B, N) times, in the cheapest layout for them.

        With gradients (training), under ``torch.compile`` or with ``cache=False``, non-uniform
        times give every token its own row (:class:`TokenConditioning`, the plain per-token
        computation, whose backward is the cheapest). Under ``torch.compile`` no branch reads tensor
        values (each would split the graph): a PF model takes per-token rows, a global model the
        rows of t[:, 0] (eager calls check that its times are uniform).
        """
        B, N = t.shape
        compiling = torch.compiler.is_compiling()
        inference = not torch.is_grad_enabled() and not compiling
        uniform = (
            self.config.time_mode == "global"
            if compiling
            else cache and bool((t == t[:, :1]).all())
        )
        if uniform:
            return SegmentConditioning(
                rows=self.t_embedder(t[:, 0]) + self.y_embedder(y), sizes=(N,)
            )
        if self.config.time_mode == "global":
            raise ValueError(
                "a global-time model got different times for the patches of one sample"
            )
        segments = time_segments(t) if cache and inference else None
        if segments is not None:
            order, times, sizes = segments  # (B*N,), (B, R), R sizes
            labels = y[:, None].expand_as(times).reshape(-1)  # (B*R,)
            rows = self.t_embedder(times.reshape(-1)) + self.y_embedder(labels)  # (B*R, D)
            return SegmentConditioning(rows=rows, sizes=sizes, order=order)
        if not (cache and inference):
            rows = self.t_embedder(t.reshape(-1)).view(B, N, -1) + self.y_embedder(y)[:, None]
            return TokenConditioning(rows=rows)  # (B, N, D)
        y_tok = y[:, None].expand(B, N).reshape(-1)  # (B*N,)
        # Distinct (t, y) pairs via two 1-D uniques (sort-based; unique over rows is a slow loop
        # on CPU).
        t_values, t_index = torch.unique(t.reshape(-1), return_inverse=True)  # (T,), (B*N,)
        K = self.config.num_classes + 1
        keys, inverse = torch.unique(t_index * K + y_tok, return_inverse=True)  # (M,), (B*N,)
        rows = self.t_embedder(t_values[keys // K]) + self.y_embedder(keys % K)  # (M, D)
        return GatheredConditioning(rows=rows, index=inverse.view(B, N), buffer=self._gather_buffer)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, cache_modulation: bool = True
    ) -> ModelOutput:
        """x (B, C, H, W), t (B,) or (B, N) in [0, 1], y (B,) labels (null = num_classes)."""
        t = self.check_inputs(x, t, y)
        c = self.config
        cond = self.conditioning(t, y, cache=cache_modulation)
        h = cond.to_layout(self.x_embedder(x) + self.pos_embed.to(x.dtype))  # (B, N, D)
        for block in self.blocks:
            h = block(h, cond)
        tokens = cond.to_patches(self.final_layer(h, cond))  # (B, N, p*p*C_out)
        out = unpatchify(tokens, c.patch_size, c.image_size, c.image_size)  # (B, C_out, H, W)
        return ModelOutput.split(out, c.in_channels, c.difficulty_head)
