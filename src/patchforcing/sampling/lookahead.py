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

Authors' quirk (default): early steps are a plain Euler step with the unguided v_c and no second
pass; ``guided_early=True`` uses the guided v there, ``early_t=-1`` disables the plain early steps.
Their release decides with ``mean(t) <= 0.05`` on the float32 row of the N patch times, a broadcast
view of one value of their grid (``torch.linspace`` in float32). The float32 mean of N copies of a
value is not always that value, and how it rounds depends on N: for float32 0.05 it equals 0.05 at
N = 1 to 25 (a plain step: in effect t_k <= 0.05) and comes out above it at N = 36, 49, 64, 196,
256, 1024, 4096 (a full two-pass step: t_k < 0.05); for the float32 value one step below 0.05 (where
their grid puts 5/100) it comes out above 0.05 at N = 64, 144, 256, 576, 1024, 4096, not at N = 49,
100, 196. The default reproduces their test exactly, on the CPU: the same float32 mean of the same
stride-0 row for the model's N, on their grid's float32 values when the schedule is the uniform one
(they differ from our float64 grid rounded to float32 in the last place at some steps) and on the
schedule's float32 times otherwise (their release has no other schedules). On a GPU their row is a
contiguous copy reduced by CUDA's kernel, which this does not model. ``strict_early=False`` gives
the plain inclusive test t_k <= early_t in float32, the same at every N. On uniform grids at
N = 256 the default spends NFE = 2 x steps - #{k : t_k < 0.05}, e.g. 195 at 100 steps and 39 at 20
(at N = 16: 194 and 38).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from patchforcing.core.condition import Condition
from patchforcing.core.path import broadcast_patches
from patchforcing.core.protocol import PatchModel
from patchforcing.sampling.base import DEFAULT_PATCHES, Generators
from patchforcing.sampling.certainty import CertaintySampler
from patchforcing.sampling.guidance import Guidance, predict
from patchforcing.sampling.options import option
from patchforcing.sampling.result import SampleResult, Trace, TraceRecorder, trace_step
from patchforcing.sampling.schedule import check_schedule, uniform_schedule

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
        "plain early steps while t <= early_t in float32, the same at every patch count "
        "(authors: the float32 mean of the N patch times <= early_t, which depends on N)",
        flag="--inclusive-early",
    )
    guided_early: bool = option(False, "guided v in the plain early steps (authors: unguided v_c)")
    jump_guided: bool = option(
        False, "jump ahead along the guided v (authors: unguided v_c)", flag="--guided-jump"
    )

    def plain_steps(self, times: list[float], num_patches: int = DEFAULT_PATCHES) -> list[bool]:
        """For each step time t_k, whether it is a plain single-pass step on a model of
        ``num_patches`` patches: the authors' test (the float32 mean of a broadcast row of N copies
        of t_k <= early_t, see the module docstring) or, with ``strict_early=False``,
        t_k <= early_t in float32."""
        t = torch.tensor(times, dtype=torch.float32)  # (S,)
        if not self.strict_early:
            return (t <= self.early_t).tolist()
        steps = len(times)
        if times == uniform_schedule(steps).tolist()[:-1]:
            t = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float32)[:-1]  # their grid's values
        plain = (t <= self.early_t).tolist()
        # the mean of N copies is within float32 rounding of the value: only times that close to
        # early_t are decided by it, one row at a time, each a stride-0 view like theirs (a
        # reduction over a (S, N) view along N rounds differently at some N)
        near = ((t - self.early_t).abs() <= 1e-4 * abs(self.early_t)).nonzero().flatten().tolist()
        for k in near:
            plain[k] = bool(t[k : k + 1].expand(num_patches).mean() <= self.early_t)
        return plain

    def nfe(self, schedule: torch.Tensor, num_patches: int = DEFAULT_PATCHES) -> int:
        """One pass per plain early step, two per other step."""
        times = check_schedule(schedule).tolist()[:-1]
        return sum(1 if plain else 2 for plain in self.plain_steps(times, num_patches))

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
        plain_steps = self.plain_steps(times[:-1], model.config.num_patches)
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
