"""Time grids for the outer loop of the samplers (t = 0 noise -> t = 1 data)."""

from __future__ import annotations

import torch

__all__ = ["uniform_schedule", "check_schedule"]


def uniform_schedule(steps: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """steps + 1 equally spaced times from 0 to 1, (steps + 1,), float64: the outer grid the
    samplers step along (``uniform_schedule(4)`` is 0, 0.25, 0.5, 0.75, 1)."""
    if steps < 1:
        raise ValueError(f"the number of steps must be >= 1, got {steps}")
    return torch.linspace(0.0, 1.0, steps + 1, device=device, dtype=torch.float64)


def check_schedule(schedule: torch.Tensor) -> torch.Tensor:
    """A 1-D non-decreasing grid inside [0, 1] with at least two entries."""
    if schedule.dim() != 1 or schedule.numel() < 2:
        raise ValueError(
            f"a schedule must be 1-D with at least 2 times, got shape {tuple(schedule.shape)}"
        )
    if (schedule < 0).any() or (schedule > 1).any() or (schedule.diff() < 0).any():
        raise ValueError("a schedule must be non-decreasing and inside [0, 1]")
    return schedule
