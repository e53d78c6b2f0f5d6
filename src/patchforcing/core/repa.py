"""Representation alignment (REPA, SPEC.md section 7): the term added to the Patch Forcing loss.

A projector maps the hidden tokens h_i after block K to z_i (B, N, Z); a frozen image encoder gives
features f of the clean image. The term is the negative cosine similarity of each token with the
encoder's feature of the same image region, averaged over tokens:

    L_align = -mean_i w_i * cos(z_i, f_i)          L = L_flow + weight * L_align

with w_i = 1 (the plain reading of the paper: every token is aligned whatever its time) or, with
``time_weighted``, w_i = t_i / mean_j t_j within each image: cleaner patches count more, and every
image (and a global-time model, whose patches share one t) keeps the plain term's total weight.

The encoder's feature map (B, Z, h, w) is brought to the token grid (gh, gw) first
(:func:`features_to_tokens`): averaged over each token's region along an axis where it is finer
(adaptive average pooling, which is exact block means when h is a multiple of gh), then
interpolated bilinearly (half-pixel centres) along an axis where it is coarser.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from patchforcing.core.path import patchify

__all__ = ["features_to_tokens", "time_weights", "alignment_loss"]


def features_to_tokens(features: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Encoder features (B, Z, h, w) -> one feature per token of a (gh, gw) grid, (B, gh*gw, Z), in
    the row-major order of the patches."""
    if features.dim() != 4:
        raise ValueError(
            f"expected encoder features of shape (B, Z, h, w), got {tuple(features.shape)}"
        )
    gh, gw = grid
    h, w = features.shape[-2:]
    x = features.float()
    if h > gh or w > gw:
        x = F.adaptive_avg_pool2d(x, (min(h, gh), min(w, gw)))  # (B, Z, <= gh, <= gw)
    if tuple(x.shape[-2:]) != (gh, gw):
        x = F.interpolate(x, size=(gh, gw), mode="bilinear", align_corners=False)
    return patchify(x, 1)  # (B, gh*gw, Z)


def time_weights(t: torch.Tensor) -> torch.Tensor:
    """Per-token weights t_i / mean_j t_j of each image (B, N); an image whose patches are all at
    t = 0 gets weight 0."""
    t = t.float()
    return t / t.mean(dim=1, keepdim=True).clamp_min(1e-6)


def alignment_loss(
    projected: torch.Tensor, features: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """-mean(w * cos(z, f)) over batch and tokens; ``projected`` and ``features`` (B, N, Z),
    ``weights`` (B, N) or None (all 1)."""
    if projected.shape != features.shape:
        raise ValueError(
            f"projected tokens {tuple(projected.shape)} and encoder features "
            f"{tuple(features.shape)} differ in shape"
        )
    cos = F.cosine_similarity(projected.float(), features.float(), dim=-1)  # (B, N)
    return -(cos if weights is None else weights * cos).mean()
