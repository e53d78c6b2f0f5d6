"""Look-ahead sampler (SPEC.md section 4).

Step t_k -> t_{k+1}, Delta = t_{k+1} - t_k:

1. one pass at uniform t_k gives the guided v, the conditional v_c and the difficulty d (B, N);
   the certain set S is the fraction p of patches with the lowest d;
2. in a temporary copy, the patches in S jump ahead to t_c = min(ratio * t_k, 1):
   x'_i = x_i + (t_c - t_k) v_c,i for i in S (``jump_guided=True`` jumps along the guided v);
3. a second pass on the copy (S at t_c, the rest at t_k) gives v_ctx, the velocity of the
   uncertain patches seen with cleaner context;
4. x_i += Delta v_i for i in S and x_i += Delta v_ctx,i otherwise. Every patch ends at t_{k+1}.

The certain set is chosen as in dual-loop (:func:`~patchforcing.sampling.certainty.certain_mask`;
by default the authors' strict rule over the pixel-level difficulty map).

Authors' quirk (default): steps with t_k < ``early_t`` (0.05) are a plain Euler step with the
unguided v_c and no second pass; ``guided_early=True`` uses the guided v there, ``early_t=-1``
disables the plain early steps. Their release tests ``mean(t) <= 0.05`` on a float32 row of the N
patch times. How the float32 mean of N copies of 0.05 rounds depends on N and on the row's memory
layout; in their setting (N = 256, the row a broadcast view) it comes out above 0.05, so at
t_k = 0.05 (grids of a multiple of 20 steps) they take the full two-pass step, and their test
equals t_k < 0.05 on every uniform grid of up to 1000 steps (measured on the CPU, not on a GPU).
``strict_early=False`` gives the inclusive test t_k <= early_t. Both compare in float32, the
precision the model is fed times at, so float64 grid rounding (``linspace(0, 1, 141)[7]`` is
0.049999999999999996) does not decide. NFE = 2 x steps - #{k : t_k < early_t} (inclusive: <=).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from patchforcing.core.condition import Condition
from patchforcing.core.path import broadcast_patches
from patchforcing.core.protocol import PatchModel
from patchforcing.sampling.base import Generators
from patchforcing.sampling.certainty import CertaintySampler
from patchforcing.sampling.guidance import Guidance, predict
from patchforcing.sampling.options import option
from patchforcing.sampling.result import SampleResult, Trace, TraceRecorder, trace_step
from patchforcing.sampling.schedule import check_schedule

__all__ = ["LookAhead", "check_ratio", "check_early_t"]


def check_ratio(ratio: float) -> float:
    if not ratio >= 1.0:
        raise ValueError(f"the context ratio must be >= 1, got {ratio}")
    return ratio


def check_early_t(early_t: float) -> float:
    if not early_t < 1.0:
        raise ValueError(
            f"early_t must be < 1 (negative disables the plain early steps), got {early_t}"
        )
    return early_t


@dataclass(frozen=True, kw_only=True)
class LookAhead(CertaintySampler):
    """Look-ahead: uncertain patches are updated with a velocity predicted while the certain
    patches sit at a cleaner time t_c = min(ratio t_k, 1)."""

    name: ClassVar[str] = "look-ahead"
    ratio: float = option(
        1.4, "context ratio: certain patches jump to t_c = min(ratio * t, 1)", check=check_ratio
    )
    early_t: float = option(
        0.05, "plain single-pass steps while t < this (negative: none)", check=check_early_t
    )
    strict_early: bool = option(
        True,
        "plain early steps while t <= early_t instead of < "
        "(authors: their float32 test, in effect <)",
        flag="--inclusive-early",
    )
    guided_early: bool = option(False, "guided v in the plain early steps (authors: unguided v_c)")
    jump_guided: bool = option(
        False, "jump ahead along the guided v (authors: unguided v_c)", flag="--guided-jump"
    )

    def plain_steps(self, times: list[float]) -> list[bool]:
        """For each step time t_k, whether it is a plain single-pass step: t_k < early_t (the
        authors' release, see the module docstring) or, with ``strict_early=False``, t_k <= early_t;
        in float32."""
        t = torch.tensor(times, dtype=torch.float32)  # (S,)
        bound = torch.tensor(self.early_t, dtype=torch.float32)
        return (t < bound if self.strict_early else t <= bound).tolist()

    def nfe(self, schedule: torch.Tensor) -> int:
        """One pass per plain early step, two per other step."""
        times = check_schedule(schedule).tolist()[:-1]
        return sum(1 if plain else 2 for plain in self.plain_steps(times))

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
        plain_steps = self.plain_steps(times[:-1])
        c = model.config
        B, H, W = noise.shape[0], noise.shape[-2], noise.shape[-1]
        x = noise
        steps = TraceRecorder(trace)
        images = nfe = 0
        for t_k, t_next, plain in zip(times[:-1], times[1:], plain_steps):
            dt = t_next - t_k
            t = torch.full((B, c.num_patches), t_k, device=x.device, dtype=x.dtype)  # (B, N)
            pred = predict(model, x, t, y, guidance)
            images, nfe = images + pred.images, nfe + 1
            if plain:
                x = x + dt * (pred.v if self.guided_early else pred.v_cond)
                if trace:
                    steps.append(trace_step(pred, x, torch.full_like(t, t_next), c.patch_size))
                continue
            certain = self.certain(pred.difficulty(c.patch_size), c.patch_size)  # (B, N)
            certain_px = broadcast_patches(certain.to(x.dtype), c.patch_size, H, W)  # (B, 1, H, W)
            t_c = min(self.ratio * t_k, 1.0)
            jump = pred.v if self.jump_guided else pred.v_cond
            x_ctx = x + ((t_c - t_k) * certain_px) * jump
            t_ctx = torch.where(certain, t_c, t_k).to(x.dtype)  # (B, N)
            if trace:
                steps.append(trace_step(pred, x_ctx, t_ctx, c.patch_size))
            ctx = predict(model, x_ctx, t_ctx, y, guidance)
            images, nfe = images + ctx.images, nfe + 1
            x = x + dt * torch.lerp(ctx.v, pred.v, certain_px)  # v on S, v_ctx off S (exact)
            if trace:
                steps.append(trace_step(ctx, x, torch.full_like(t, t_next), c.patch_size))
        return SampleResult(x=x, nfe=nfe, images_forwarded=images, trace=steps)
