"""Euler (global time) and Euler-PF (the same step with t broadcast to every patch)."""

from __future__ import annotations

import torch

from patchforcing.model import Condition, PatchModel
from patchforcing.sampling.guidance import Guidance, predict
from patchforcing.sampling.result import SampleResult, Trace, TraceRecorder, trace_step
from patchforcing.sampling.schedule import check_schedule
from patchforcing.sampling.scope import sampling_scope

__all__ = ["euler", "euler_pf"]


def _euler(model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
           guidance: Guidance, per_patch: bool, trace: Trace) -> SampleResult:
    times = check_schedule(schedule).tolist()  # one host copy, no per-step syncs
    B, N = noise.shape[0], model.config.num_patches
    x = noise
    steps = TraceRecorder(trace)
    images = 0
    for t_k, t_next in zip(times[:-1], times[1:]):
        t = torch.full((B, N) if per_patch else (B,), t_k, device=x.device, dtype=x.dtype)
        pred = predict(model, x, t, y, guidance)
        images += pred.images
        x = x + (t_next - t_k) * pred.v
        if trace:
            steps.append(trace_step(pred, x, torch.full((B, N), t_next, device=x.device), model.config.patch_size))
    return SampleResult(x=x, nfe=len(times) - 1, images_forwarded=images, trace=steps)


@sampling_scope
def euler(model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
          guidance: Guidance = Guidance(), trace: Trace = False) -> SampleResult:
    """x += (t_{k+1} - t_k) * v(x, t_k) with one global time per sample. NFE = steps."""
    return _euler(model, noise, y, schedule, guidance, per_patch=False, trace=trace)


@sampling_scope
def euler_pf(model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
             guidance: Guidance = Guidance(), trace: Trace = False) -> SampleResult:
    """Euler with t broadcast to (B, N); ignores the difficulty head. NFE = steps."""
    return _euler(model, noise, y, schedule, guidance, per_patch=True, trace=trace)
