"""The "certain" set of the adaptive samplers: the fraction p of patches with the lowest score.

Per sample, the threshold q is a p-quantile of the scores (linear interpolation, ``torch.quantile``,
in float64 as the authors compute it). The authors' release marks patch i certain when d_i < q
(strict); with ``strict=False`` the rule is d_i <= q, so p = 1 makes every patch certain.

The authors take the quantile over the difficulty map at latent-pixel resolution: each patch's
pooled value repeated patch_size x patch_size times, N * patch_size**2 values in all
(``pixels = patch_size**2``, the default of every sampler). ``pixels=1`` takes it over the N patch
values. For distinct scores, with r = ``pixels`` and pos = p (N r - 1) the quantile's position among
the sorted repeated values, the strict rule selects ceil((pos + 1) / r) - 1 patches and the
inclusive rule floor(pos / r) + 1. With r = 1 these are ceil(p (N - 1)) and floor(p (N - 1)) + 1;
the two quantiles then differ by one patch at some N (p = 0.4, patch size 2: 25 vs 26 of 64, 19 vs
20 of 49, 409 vs 410 of 1024; equal at 16, 196 and 256).

:class:`CertaintySampler` declares these choices once for every sampler that moves a certain set
ahead (dual-loop, look-ahead and their controls).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from patchforcing.sampling.base import Sampler
from patchforcing.sampling.options import option

__all__ = ["certain_mask", "check_fraction", "quantile_pixels", "CertaintySampler"]


def check_fraction(p: float) -> float:
    """Raise ``ValueError`` unless the certain fraction p lies in [0, 1]."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the certain fraction p must lie in [0, 1], got {p}")
    return p


def quantile_pixels(patch_size: int, pixel_quantile: bool) -> int:
    """How many values each patch contributes to the quantile: its p x p pixels (the authors' map)
    or one."""
    return patch_size**2 if pixel_quantile else 1


def certain_mask(
    scores: torch.Tensor, p: float, strict: bool = True, pixels: int = 1
) -> torch.Tensor:
    """Scores (B, N) -> bool mask (B, N) of the patches below (``strict=False``: at or below) the
    per-sample p-quantile of the scores, each score counted ``pixels`` times."""
    values = scores.double()  # (B, N)
    q = torch.quantile(values.repeat_interleave(pixels, dim=1), p, dim=1, keepdim=True)  # (B, 1)
    return values < q if strict else values <= q


@dataclass(frozen=True, kw_only=True)
class CertaintySampler(Sampler):
    """Base of the samplers that move the fraction p of patches with the lowest score ahead of the
    rest: the fraction and the quantile rule that picks them."""

    difficulty: ClassVar[bool] = True
    p: float = option(
        0.4, "fraction of patches made certain at each (outer) step", check=check_fraction
    )
    strict_quantile: bool = option(
        True,
        "certain = score <= quantile instead of < (authors: strict <)",
        flag="--inclusive-quantile",
    )
    pixel_quantile: bool = option(
        True,
        "certainty quantile over the N patch values instead of the pixel-level map "
        "(authors: each patch's value counted patch_size^2 times)",
        flag="--patch-quantile",
    )

    def certain(self, scores: torch.Tensor, patch_size: int) -> torch.Tensor:
        """Scores (B, N) -> bool mask (B, N) of the certain patches under this config's rule."""
        pixels = quantile_pixels(patch_size, self.pixel_quantile)
        return certain_mask(scores, self.p, self.strict_quantile, pixels)
