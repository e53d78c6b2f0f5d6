"""Euler (global time) and Euler-PF (the same step with t broadcast to every patch).

x += (t_{k+1} - t_k) * v(x, t_k), one pass per step: NFE = steps. Euler feeds one time per sample
(B,) and runs on any model; Euler-PF feeds it to every patch (B, N), needs a Patch Forcing model
and ignores its difficulty head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from patchforcing.core.condition import Condition
from patchforcing.core.protocol import PatchModel
from patchforcing.sampling.base import Generators, Sampler
from patchforcing.sampling.guidance import Guidance, predict
from patchforcing.sampling.result import SampleResult, Trace, TraceRecorder, trace_step
from patchforcing.sampling.schedule import check_schedule

__all__ = ["Euler", "EulerPF"]


@dataclass(frozen=True, kw_only=True)
class Euler(Sampler):
    """Euler with one time per image: ``x += (t_next - t) * v(x, t)`` along ``schedule``, t of
    shape (B,); NFE = number of steps. Runs on any model (global-time baselines too).

    Example::

        result = Euler()(model, noise, labels, uniform_schedule(25))  # result.nfe == 25
    """

    name: ClassVar[str] = "euler"
    patch_time: ClassVar[bool] = False  # also the shape of the time fed: (B, N) if set, else (B,)

    def run(
        self,
        model: PatchModel,
        noise: torch.Tensor,
        y: Condition,
        schedule: torch.Tensor,
        *,
        guidance: Guidance,
        generator: Generators | None,
        trace: Trace,
    ) -> SampleResult:
        times = check_schedule(schedule).tolist()  # one host copy, no per-step syncs
        B, N, patch_size = noise.shape[0], model.config.num_patches, model.config.patch_size
        shape = (B, N) if self.patch_time else (B,)
        x = noise
        steps = TraceRecorder(trace)
        images = 0
        for t_k, t_next in zip(times[:-1], times[1:]):
            t = torch.full(shape, t_k, device=x.device, dtype=x.dtype)
            pred = predict(model, x, t, y, guidance)
            images += pred.images
            x = x + (t_next - t_k) * pred.v
            if trace:
                t_reached = torch.full((B, N), t_next, device=x.device)  # (B, N)
                steps.append(trace_step(pred, x, t_reached, patch_size))
        return SampleResult(x=x, nfe=len(times) - 1, images_forwarded=images, trace=steps)


@dataclass(frozen=True, kw_only=True)
class EulerPF(Euler):
    """The Euler step with the time broadcast to every patch, t of shape (B, N): what a Patch
    Forcing model sees when all patches share one time; its difficulty head is not used."""

    name: ClassVar[str] = "euler-pf"
    patch_time: ClassVar[bool] = True
