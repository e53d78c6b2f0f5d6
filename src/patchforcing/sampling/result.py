"""What every sampler returns: the image and the compute it spent."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["SampleResult", "TraceStep"]


@dataclass(frozen=True)
class TraceStep:
    """State after one network evaluation, recorded on request."""

    x: torch.Tensor  # (B, C, H, W)
    t: torch.Tensor  # (B, N) per-patch time of x
    difficulty: torch.Tensor | None  # (B, N), None for models without a difficulty head


@dataclass(frozen=True)
class SampleResult:
    x: torch.Tensor  # (B, C, H, W) final sample at t = 1
    nfe: int  # network forward passes (a CFG pass on a doubled batch counts once)
    images_forwarded: int  # images pushed through the network, CFG doubling included
    trace: list[TraceStep] = field(default_factory=list)
