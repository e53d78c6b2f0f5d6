"""Dual-loop sampler (SPEC.md section 4) and its hardest-first control.

Outer step t_k -> t_{k+1}, Delta = t_{k+1} - t_k, inner step delta = Delta / n_inner:

1. one pass at uniform t_k gives v and the difficulty d (B, N); the certain set S is the fraction
   p of patches with the lowest d (:func:`~patchforcing.sampling.certainty.certain_mask`: by default
   the authors' rule, d_i strictly below the p-quantile of the pixel-level difficulty map);
2. x_i += Delta v_i for i in S (they reach t_{k+1}), x_i += delta v_i otherwise;
3. n_inner - 1 more passes on the mixed state, every patch fed its own time (t_{k+1} on S,
   t_k + j delta off S), move only the patches off S by delta each.

All patches meet at t_{k+1}; the mask is chosen once per outer step. NFE = outer steps x n_inner.
The controls keep this schedule and change only :meth:`DualLoop.mask_rule`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from patchforcing.core.condition import Condition
from patchforcing.core.path import broadcast_patches
from patchforcing.core.protocol import PatchModel
from patchforcing.sampling.base import DEFAULT_PATCHES, Generators
from patchforcing.sampling.certainty import CertaintySampler
from patchforcing.sampling.guidance import Guidance, Prediction, predict
from patchforcing.sampling.options import option
from patchforcing.sampling.result import SampleResult, Trace, TraceRecorder, trace_step
from patchforcing.sampling.schedule import check_schedule

__all__ = ["DualLoop", "HardestFirst", "MaskRule", "check_inner"]

MaskRule = Callable[
    [Prediction], torch.Tensor
]  # first pass of an outer step -> certain mask (B, N)


def check_inner(n_inner: int) -> int:
    if not isinstance(n_inner, int) or n_inner < 1:
        raise ValueError(f"n_inner must be an integer >= 1, got {n_inner!r}")
    return n_inner


@dataclass(frozen=True, kw_only=True)
class DualLoop(CertaintySampler):
    """Dual-loop: the fraction p of lowest-difficulty patches take the whole outer step at once and
    serve as cleaner context while the rest take n_inner smaller steps."""

    name: ClassVar[str] = "dual-loop"
    n_inner: int = option(4, "inner steps per outer step", check=check_inner)

    def nfe(self, schedule: torch.Tensor, num_patches: int = DEFAULT_PATCHES) -> int:
        return super().nfe(schedule, num_patches) * self.n_inner

    def mask_rule(
        self, model: PatchModel, noise: torch.Tensor, generator: Generators | None
    ) -> MaskRule:
        """The certain set of every outer step: the lowest difficulty of its first pass."""
        patch_size = model.config.patch_size
        return lambda pred: self.certain(pred.difficulty(patch_size), patch_size)

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
        rule = self.mask_rule(model, noise, generator)
        times = check_schedule(schedule).tolist()  # one host copy, no per-step syncs
        n_inner, c = self.n_inner, model.config
        B, H, W = noise.shape[0], noise.shape[-2], noise.shape[-1]
        x = noise
        steps = TraceRecorder(trace)
        images = nfe = 0
        for t_k, t_next in zip(times[:-1], times[1:]):
            delta = (t_next - t_k) / n_inner
            t = torch.full((B, c.num_patches), t_k, device=x.device, dtype=x.dtype)  # (B, N)
            pred = predict(model, x, t, y, guidance)
            certain = rule(pred)  # (B, N) bool
            step = torch.where(certain, t_next - t_k, delta).to(x.dtype)  # (B, N)
            x = x + broadcast_patches(step, c.patch_size, H, W) * pred.v
            off = broadcast_patches((~certain).to(x.dtype), c.patch_size, H, W)  # (B, 1, H, W)
            inner_step = off * delta
            images, nfe = images + pred.images, nfe + 1
            for j in range(1, n_inner):
                t = torch.where(certain, t_next, t_k + j * delta).to(x.dtype)  # (B, N) time of x
                if trace:
                    steps.append(trace_step(pred, x, t, c.patch_size))
                pred = predict(model, x, t, y, guidance)
                x = x + inner_step * pred.v
                images, nfe = images + pred.images, nfe + 1
            if trace:
                steps.append(trace_step(pred, x, torch.full_like(t, t_next), c.patch_size))
        return SampleResult(x=x, nfe=nfe, images_forwarded=images, trace=steps)


@dataclass(frozen=True, kw_only=True)
class HardestFirst(DualLoop):
    """Control: dual-loop with the difficulty ranking inverted, the hardest patches moved ahead. It
    keeps the mixed-time passes and their NFE but moves the wrong patches: with the random-mask
    control it separates "easy patches as context" from mixed-time passes as such."""

    name: ClassVar[str] = "hardest-first"

    def mask_rule(
        self, model: PatchModel, noise: torch.Tensor, generator: Generators | None
    ) -> MaskRule:
        patch_size = model.config.patch_size
        return lambda pred: self.certain(-pred.difficulty(patch_size), patch_size)
