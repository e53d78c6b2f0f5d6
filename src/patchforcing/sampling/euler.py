"""Euler (global time) and Euler-PF (the same step with t broadcast to every patch)."""

from __future__ import annotations

import torch
from torch import nn

from patchforcing.path import pool_patches
from patchforcing.sampling.guidance import Guidance, predict
from patchforcing.sampling.result import SampleResult, TraceStep
from patchforcing.sampling.schedule import check_schedule

__all__ = ["euler", "euler_pf"]


def _euler(model: nn.Module, noise: torch.Tensor, y: torch.Tensor, schedule: torch.Tensor,
           guidance: Guidance, per_patch: bool, trace: bool) -> SampleResult:
    schedule = check_schedule(schedule)
    B, N = noise.shape[0], model.config.num_patches
    x = noise
    steps: list[TraceStep] = []
    images = 0
    for k in range(schedule.numel() - 1):
        t_k, dt = float(schedule[k]), float(schedule[k + 1] - schedule[k])
        t = torch.full((B, N) if per_patch else (B,), t_k, device=x.device, dtype=x.dtype)
        pred = predict(model, x, t, y, guidance)
        images += pred.images
        x = x + dt * pred.v
        if trace:
            difficulty = None if pred.logvar is None else pool_patches(pred.logvar.float().exp(), model.config.patch_size)
            steps.append(TraceStep(x=x.clone(), t=torch.full((B, N), t_k + dt), difficulty=difficulty))
    return SampleResult(x=x, nfe=schedule.numel() - 1, images_forwarded=images, trace=steps)


@torch.no_grad()
def euler(model: nn.Module, noise: torch.Tensor, y: torch.Tensor, schedule: torch.Tensor,
          guidance: Guidance = Guidance(), trace: bool = False) -> SampleResult:
    """x += (t_{k+1} - t_k) * v(x, t_k) with one global time per sample. NFE = steps."""
    return _euler(model, noise, y, schedule, guidance, per_patch=False, trace=trace)


@torch.no_grad()
def euler_pf(model: nn.Module, noise: torch.Tensor, y: torch.Tensor, schedule: torch.Tensor,
             guidance: Guidance = Guidance(), trace: bool = False) -> SampleResult:
    """Euler with t broadcast to (B, N); ignores the difficulty head. NFE = steps."""
    return _euler(model, noise, y, schedule, guidance, per_patch=True, trace=trace)
