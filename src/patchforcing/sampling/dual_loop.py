"""Dual-loop sampler (SPEC.md section 4) and the machinery it shares with the random-mask control.

Outer step t_k -> t_{k+1}, Delta = t_{k+1} - t_k, inner step delta = Delta / n_inner:

1. one pass at uniform t_k gives v and the difficulty d (B, N); the certain set S is the fraction
   p of patches with the lowest d (:func:`~patchforcing.sampling.certainty.certain_mask`: by default
   the authors' rule, d_i strictly below the p-quantile of the pixel-level difficulty map);
2. x_i += Delta v_i for i in S (they reach t_{k+1}), x_i += delta v_i otherwise;
3. n_inner - 1 more passes on the mixed state, every patch fed its own time (t_{k+1} on S,
   t_k + j delta off S), move only the patches off S by delta each.

All patches meet at t_{k+1}; the mask is chosen once per outer step. NFE = outer steps x n_inner.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from patchforcing.core.path import broadcast_patches
from patchforcing.model import Condition, PatchModel
from patchforcing.sampling.certainty import certain_mask, check_fraction, quantile_pixels
from patchforcing.sampling.guidance import Guidance, Prediction, predict
from patchforcing.sampling.result import SampleResult, Trace, TraceRecorder, trace_step
from patchforcing.sampling.schedule import check_schedule
from patchforcing.sampling.scope import sampling_scope

__all__ = ["dual_loop", "masked_dual_loop", "MaskRule", "check_inner"]

MaskRule = Callable[[Prediction], torch.Tensor]  # first pass of an outer step -> certain mask (B, N)


def check_inner(n_inner: int) -> int:
    if not isinstance(n_inner, int) or n_inner < 1:
        raise ValueError(f"n_inner must be an integer >= 1, got {n_inner!r}")
    return n_inner


@sampling_scope
def masked_dual_loop(model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
                     n_inner: int, rule: MaskRule, guidance: Guidance = Guidance(),
                     trace: Trace = False) -> SampleResult:
    """The dual-loop schedule with the certain set chosen by ``rule`` at every outer step."""
    times = check_schedule(schedule).tolist()  # one host copy, no per-step syncs
    n_inner = check_inner(n_inner)
    c = model.config
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
        inner_step = broadcast_patches((~certain).to(x.dtype), c.patch_size, H, W) * delta  # (B, 1, H, W)
        images, nfe = images + pred.images, nfe + 1
        for j in range(1, n_inner):
            t = torch.where(certain, t_next, t_k + j * delta).to(x.dtype)  # (B, N) time of the current x
            if trace:
                steps.append(trace_step(pred, x, t, c.patch_size))
            pred = predict(model, x, t, y, guidance)
            x = x + inner_step * pred.v
            images, nfe = images + pred.images, nfe + 1
        if trace:
            steps.append(trace_step(pred, x, torch.full_like(t, t_next), c.patch_size))
    return SampleResult(x=x, nfe=nfe, images_forwarded=images, trace=steps)


@sampling_scope
def dual_loop(model: PatchModel, noise: torch.Tensor, y: Condition, schedule: torch.Tensor,
              p: float = 0.4, n_inner: int = 4, strict_quantile: bool = True, pixel_quantile: bool = True,
              guidance: Guidance = Guidance(), trace: Trace = False, hardest_first: bool = False) -> SampleResult:
    """Dual-loop: the fraction p of lowest-difficulty patches take the whole outer step at once and
    serve as cleaner context while the rest take n_inner smaller steps. NFE = outer steps x n_inner.
    ``pixel_quantile=False`` takes the certainty quantile over the N patch values instead of the
    pixel-level map; ``strict_quantile=False`` makes d_i <= q certain. ``hardest_first`` inverts the
    ranking (the fraction p of HARDEST patches goes first): a control that keeps the mixed-time passes
    and their NFE but moves the wrong patches ahead."""
    check_fraction(p)
    patch_size = model.config.patch_size
    pixels = quantile_pixels(patch_size, pixel_quantile)
    sign = -1.0 if hardest_first else 1.0

    def by_difficulty(pred: Prediction) -> torch.Tensor:
        return certain_mask(sign * pred.difficulty(patch_size), p, strict_quantile, pixels)  # (B, N)

    return masked_dual_loop(model, noise, y, schedule, n_inner, by_difficulty, guidance, trace)
