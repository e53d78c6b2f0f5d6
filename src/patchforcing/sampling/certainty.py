"""The "certain" set of the adaptive samplers: the fraction p of patches with the lowest score.

Per sample, the threshold is the p-quantile q_p of the N scores (linear interpolation, as
``torch.quantile``). The authors' release marks patch i certain when d_i < q_p (strict); with
``strict=False`` the rule is d_i <= q_p, so p = 1 makes every patch certain. For distinct scores the
strict rule selects ceil(p (N - 1)) patches and the inclusive rule floor(p (N - 1)) + 1.
"""

from __future__ import annotations

import torch

__all__ = ["certain_mask", "check_fraction"]


def check_fraction(p: float) -> float:
    """Raise ``ValueError`` unless the certain fraction p lies in [0, 1]."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the certain fraction p must lie in [0, 1], got {p}")
    return p


def certain_mask(scores: torch.Tensor, p: float, strict: bool = True) -> torch.Tensor:
    """Scores (B, N) -> bool mask (B, N) of the patches at or below the per-sample p-quantile."""
    q = torch.quantile(scores, p, dim=1, keepdim=True)  # (B, 1)
    return scores < q if strict else scores <= q
