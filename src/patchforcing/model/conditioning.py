"""Per-token adaLN conditioning, in the layout that makes it cheapest (SPEC.md section 2).

c_i = emb(t_i) + emb(y) is per token, so every adaLN shift / scale / gate is per token. At inference
most tokens share a few distinct times, and two layouts compute the same values:

- :class:`SegmentConditioning`: the tokens of every sample are put in order of their time, and every
  sample's times change at the same positions of that order, giving R segments shared by the batch.
  Each segment is modulated by one row per sample, broadcast over its tokens: no per-token tensor is
  ever built. R = 1 (every token of a sample at one time) keeps the patch order and is exactly the
  global-time (SiT) cost; it is the only segment layout used with gradients. R > 1 (no-grad forwards
  only) covers dual-loop, the random control and look-ahead (the same number p N of certain patches
  in every sample) and a schedule matrix shared by the batch. Attention does not depend on the token
  order (positions are added before the blocks), and the output is put back in patch order.
- :class:`GatheredConditioning`: any other no-grad eager forward (ties that give samples different
  segment sizes; more than :data:`MAX_SEGMENTS` times per sample). The distinct (t, y) rows are
  computed once and gathered per token.

With gradients (training, where every token has its own time, so no row is shared), under
``torch.compile`` and with the cache off, :class:`TokenConditioning` computes one row per token and
slices its adaLN values in place, as a plain per-token DiT does: a gather of distinct rows saves
nothing there, and its backward (a zero-filled gradient and a scatter-add per block, plus the
in-place ``+ 1`` of the scales) made the training step about 1.3x slower than the plain one.

Inside :meth:`~patchforcing.model.PatchForcingDiT.reuse_buffers` (the samplers enter it), no-grad
gathers write into one :class:`GatherBuffer` instead of a fresh (6, B, N, D) tensor per block. On
CPU the fresh tensors are large enough that the C allocator maps them from and returns them to the
OS every time, and the page faults cost about as much as the gather itself
(docs/samplers.md, "Speed").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "MAX_SEGMENTS",
    "GatherBuffer",
    "SegmentConditioning",
    "GatheredConditioning",
    "TokenModulation",
    "TokenConditioning",
    "Conditioning",
    "time_segments",
]

# Each segment costs one more multiply-add per modulation; with more distinct times per sample than
# this, the gathered layout is used instead.
MAX_SEGMENTS = 4


class GatherBuffer:
    """One flat tensor reused by every gather of an inference scope; grows when a gather
    needs more."""

    def __init__(self) -> None:
        self.data: torch.Tensor | None = None

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A contiguous tensor of ``shape`` with ``like``'s dtype and device
        (contents undefined)."""
        n = math.prod(shape)
        data = self.data
        if (
            data is None
            or data.numel() < n
            or data.dtype != like.dtype
            or data.device != like.device
        ):
            data = self.data = torch.empty(n, dtype=like.dtype, device=like.device)
        return data[:n].view(shape)


def modulation_rows(
    layer: nn.Module, rows: torch.Tensor, chunks: int, scale_chunks: tuple[int, ...]
) -> torch.Tensor:
    """adaLN values of conditioning rows (M, D) -> (M, chunks, D), with 1 already added to the scale
    chunks, so that the per-token work is one fused multiply-add per modulation."""
    values = layer(rows).view(rows.shape[0], chunks, -1)  # (M, chunks, D)
    values[:, list(scale_chunks)] += 1
    return values


class SegmentModulation:
    """adaLN values of R token segments shared by the batch: one row per sample, segment and chunk.

    With R > 1 (no-grad forwards only) each operation writes into the memory of its token input
    that the block no longer needs (the LayerNorm output, the attention / MLP output): on small
    models every extra op costs a measurable part of a forward.
    """

    def __init__(self, values: torch.Tensor, sizes: tuple[int, ...]) -> None:
        """``values`` (B * R, chunks, D), sample-major; ``sizes`` the R segment lengths, in
        token order."""
        _, chunks, D = values.shape
        by_segment = values.view(-1, len(sizes), 1, chunks, D).unbind(1)  # R x (B, 1, chunks, D)
        self.rows = [segment.unbind(2) for segment in by_segment]  # [R][chunks] (B, 1, D)
        self.sizes = sizes

    def modulate(self, x: torch.Tensor, shift: int, scale_plus_one: int) -> torch.Tensor:
        """x * (1 + scale) + shift; x (B, N, D), overwritten when R > 1."""
        if len(self.sizes) == 1:
            return torch.addcmul(self.rows[0][shift], x, self.rows[0][scale_plus_one])
        for rows, x_j in zip(self.rows, x.split(self.sizes, dim=1)):
            torch.addcmul(rows[shift], x_j, rows[scale_plus_one], out=x_j)
        return x

    def gated_add(self, x: torch.Tensor, gate: int, update: torch.Tensor) -> torch.Tensor:
        """x + gate * update; x, update (B, N, D), ``update`` overwritten when R > 1."""
        if len(self.sizes) == 1:
            return torch.addcmul(x, self.rows[0][gate], update)
        for rows, x_j, update_j in zip(
            self.rows, x.split(self.sizes, dim=1), update.split(self.sizes, dim=1)
        ):
            torch.addcmul(x_j, rows[gate], update_j, out=update_j)
        return update


@dataclass(frozen=True)
class SegmentConditioning:
    """Conditioning rows (B * R, D), sample-major, for R token segments shared by the batch.

    ``order`` (B * N,) lists the tokens of the flattened batch in segment order (None: patch order,
    R = 1); entry b * N + i is a token of sample b.
    """

    rows: torch.Tensor  # (B * R, D)
    sizes: tuple[int, ...]  # the R segment lengths, in token order
    order: torch.Tensor | None = None  # (B * N,)

    def modulation(
        self, layer: nn.Module, chunks: int, scale_chunks: tuple[int, ...]
    ) -> SegmentModulation:
        return SegmentModulation(
            modulation_rows(layer, self.rows, chunks, scale_chunks), self.sizes
        )

    def to_layout(self, h: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, K) in patch order -> in this layout's order."""
        if self.order is None:
            return h
        return h.reshape(-1, h.shape[-1]).index_select(0, self.order).view(h.shape)

    def to_patches(self, h: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, K) in this layout's order -> in patch order."""
        if self.order is None:
            return h
        flat = h.reshape(-1, h.shape[-1])  # (B*N, K)
        return torch.empty_like(flat).index_copy_(0, self.order, flat).view(h.shape)


@dataclass(frozen=True)
class GatheredModulation:
    """Per-token adaLN values: ``chunks`` tensors (B, N, D)."""

    chunks: tuple[torch.Tensor, ...]

    def modulate(self, x: torch.Tensor, shift: int, scale_plus_one: int) -> torch.Tensor:
        return torch.addcmul(self.chunks[shift], x, self.chunks[scale_plus_one])

    def gated_add(self, x: torch.Tensor, gate: int, update: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(x, self.chunks[gate], update)


@dataclass(frozen=True)
class GatheredConditioning:
    """Distinct conditioning rows (M, D) and the row of every token, ``index`` (B, N).

    ``buffer``, when set, receives the gathered values (each gather overwrites the previous one).
    """

    rows: torch.Tensor  # (M, D)
    index: torch.Tensor  # (B, N)
    buffer: GatherBuffer | None = None

    def modulation(
        self, layer: nn.Module, chunks: int, scale_chunks: tuple[int, ...]
    ) -> GatheredModulation:
        """Each gathered chunk is contiguous, so the per-token multiply-adds are cheap."""
        by_chunk = modulation_rows(layer, self.rows, chunks, scale_chunks).transpose(
            0, 1
        )  # (chunks, M, D)
        B, N = self.index.shape
        flat = self.index.reshape(-1)  # (B*N,)
        if self.buffer is None:
            gathered = by_chunk.index_select(1, flat)  # (chunks, B*N, D)
        else:
            out = self.buffer.take((chunks, B * N, by_chunk.shape[-1]), by_chunk)
            gathered = torch.index_select(by_chunk, 1, flat, out=out)
        return GatheredModulation(gathered.view(chunks, B, N, -1).unbind(0))

    def to_layout(self, h: torch.Tensor) -> torch.Tensor:
        return h

    def to_patches(self, h: torch.Tensor) -> torch.Tensor:
        return h


class TokenModulation:
    """Per-token adaLN values: ``chunks`` views (B, N, D) of one (B, N, chunks * D) tensor; the
    scale chunks hold the scale itself (no 1 added), so no op writes into the layer's output."""

    def __init__(self, chunks: tuple[torch.Tensor, ...]) -> None:
        self.chunks = chunks

    def modulate(self, x: torch.Tensor, shift: int, scale: int) -> torch.Tensor:
        """x * (1 + scale) + shift, as (x + shift) + x * scale: two ops, each with a cheap
        backward."""
        return torch.addcmul(x + self.chunks[shift], x, self.chunks[scale])

    def gated_add(self, x: torch.Tensor, gate: int, update: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(x, self.chunks[gate], update)


@dataclass(frozen=True)
class TokenConditioning:
    """One conditioning row per token, ``rows`` (B, N, D), in patch order."""

    rows: torch.Tensor  # (B, N, D)

    def modulation(
        self, layer: nn.Module, chunks: int, scale_chunks: tuple[int, ...]
    ) -> TokenModulation:
        """``scale_chunks`` is part of the shared signature: :meth:`TokenModulation.modulate`
        adds the 1 itself."""
        return TokenModulation(layer(self.rows).chunk(chunks, dim=-1))  # chunks x (B, N, D)

    def to_layout(self, h: torch.Tensor) -> torch.Tensor:
        return h

    def to_patches(self, h: torch.Tensor) -> torch.Tensor:
        return h


Conditioning = SegmentConditioning | GatheredConditioning | TokenConditioning


def time_segments(
    t: torch.Tensor, max_segments: int = MAX_SEGMENTS
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]] | None:
    """Times (B, N) -> (order (B * N,), segment times (B, R), segment sizes) when every sample, its
    tokens sorted by time, changes time at the same positions and has at most ``max_segments``
    times; otherwise None. ``order`` indexes the flattened batch (see
    :class:`SegmentConditioning`)."""
    B, N = t.shape
    ordered, order = torch.sort(t, dim=1, stable=True)  # (B, N) each
    change = ordered.diff(dim=1) != 0  # (B, N - 1)
    if not torch.equal(change, change[:1].expand_as(change)):
        return None
    starts = [0, *(change[0].nonzero().flatten() + 1).tolist()]
    if len(starts) > max_segments:
        return None
    sizes = tuple(end - start for start, end in zip(starts, [*starts[1:], N]))
    flat_order = (order + N * torch.arange(B, device=t.device)[:, None]).reshape(-1)  # (B*N,)
    return flat_order, ordered[:, starts], sizes
