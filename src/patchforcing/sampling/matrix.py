"""Schedule-matrix sampler: any per-patch schedule, and inpainting as a special case.

A schedule matrix T has shape (steps + 1, N) (or (B, steps + 1, N), one per sample). Row k is the
time every patch is fed at pass k; the update is

    x += broadcast(max(T[k + 1] - T[k], 0)) * v(x, T[k])

(negative increments clamped to 0: a patch never goes back in time). One pass per row, NFE = steps.
The last row must be all ones. The first row may be above 0 for patches whose content is known:
they start at x_t = T[0] x1 + (1 - T[0]) x0. With a pixel mask of known pixels, those pixels are
reset to the path x_t at their patch's current time after every step and equal x1 exactly at
the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from patchforcing.core.condition import Condition
from patchforcing.core.path import broadcast_patches, interpolate, pool_patches
from patchforcing.core.protocol import PatchModel
from patchforcing.sampling.base import DEFAULT_PATCHES, Generators, Sampler
from patchforcing.sampling.budget import Budget
from patchforcing.sampling.guidance import Guidance, predict
from patchforcing.sampling.result import SampleResult, Trace, TraceRecorder, trace_step
from patchforcing.sampling.schedule import check_schedule

__all__ = ["KnownContent", "ScheduleMatrix", "check_matrix", "inpainting_matrix"]


@dataclass(frozen=True)
class KnownContent:
    """Known image content: ``image`` x1 in [-1, 1] and ``mask`` (True where the pixel is known)."""

    image: torch.Tensor  # (B, C, H, W)
    mask: torch.Tensor  # (B, 1, H, W) bool

    def __post_init__(self) -> None:
        if self.image.dim() != 4 or self.mask.dim() != 4 or self.mask.shape[1] != 1:
            raise ValueError(
                f"known content needs image (B, C, H, W) and mask (B, 1, H, W), got "
                f"{tuple(self.image.shape)} and {tuple(self.mask.shape)}"
            )
        if (
            self.mask.shape[0] != self.image.shape[0]
            or self.mask.shape[-2:] != self.image.shape[-2:]
        ):
            raise ValueError(
                f"mask {tuple(self.mask.shape)} does not fit image {tuple(self.image.shape)}"
            )
        if self.mask.dtype != torch.bool:
            raise ValueError(f"the known-pixel mask must be bool, got {self.mask.dtype}")

    def known_patches(self, patch_size: int) -> torch.Tensor:
        """(B, N) bool: patches whose pixels are all known."""
        return pool_patches(self.mask.float(), patch_size) == 1.0


def check_matrix(matrix: torch.Tensor, batch: int, num_patches: int) -> torch.Tensor:
    """Validate a schedule matrix and return it as (B, steps + 1, N)."""
    if matrix.dim() == 2:
        matrix = matrix[None].expand(batch, -1, -1)
    if (
        matrix.dim() != 3
        or matrix.shape[0] != batch
        or matrix.shape[2] != num_patches
        or matrix.shape[1] < 2
    ):
        raise ValueError(
            f"a schedule matrix must be (steps + 1, {num_patches}) or ({batch}, steps + 1, "
            f"{num_patches}) with steps >= 1, got {tuple(matrix.shape)}"
        )
    if not bool(((matrix >= 0) & (matrix <= 1)).all()):
        raise ValueError("schedule matrix entries must lie in [0, 1]")
    if not bool((matrix[:, -1] == 1).all()):
        raise ValueError(
            "the last row of a schedule matrix must be all ones (every patch ends at t = 1)"
        )
    return matrix


def inpainting_matrix(known: torch.Tensor, schedule: torch.Tensor) -> torch.Tensor:
    """(B, N) bool known patches and a 1-D schedule (S + 1,) -> (B, S + 1, N): known patches at 1
    throughout, the others follow the schedule."""
    ramp = check_schedule(schedule).to(known.device)  # (S + 1,)
    return torch.where(known[:, None, :], 1.0, ramp[None, :, None].to(torch.float64))


@dataclass(frozen=True, kw_only=True)
class ScheduleMatrix(Sampler):
    """A fixed ``matrix`` ((S + 1, N) or (B, S + 1, N); the schedule it is called with is then
    unused) or, without one, rows built from the schedule: every patch follows it, except patches
    fully inside ``known`` content, which stay at t = 1. With ``known`` the known pixels are kept
    exactly."""

    name: ClassVar[str] = "matrix"
    matrix: torch.Tensor | None = None
    known: KnownContent | None = None

    def nfe(self, schedule: torch.Tensor, num_patches: int = DEFAULT_PATCHES) -> int:
        return (
            super().nfe(schedule, num_patches) if self.matrix is None else self.matrix.shape[-2] - 1
        )

    def budget(self, nfe: int, num_patches: int = DEFAULT_PATCHES) -> Budget:
        if self.matrix is None:
            return super().budget(nfe, num_patches)
        return Budget(steps=self.matrix.shape[-2] - 1, nfe=self.matrix.shape[-2] - 1, requested=nfe)

    def rows(self, model: PatchModel, noise: torch.Tensor, schedule: torch.Tensor) -> torch.Tensor:
        """The (B, S + 1, N) matrix this config integrates."""
        c = model.config
        if self.matrix is not None:
            return check_matrix(self.matrix.to(noise.device), noise.shape[0], c.num_patches)
        known = (
            torch.zeros(noise.shape[0], c.num_patches, dtype=torch.bool, device=noise.device)
            if self.known is None
            else self.known.known_patches(c.patch_size)
        )
        return inpainting_matrix(known, schedule)

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
        c, known = model.config, self.known
        H, W = noise.shape[-2], noise.shape[-1]
        rows = self.rows(model, noise, schedule).to(noise.device).to(noise.dtype)  # (B, S + 1, N)
        if known is None and bool((rows[:, 0] > 0).any()):
            raise ValueError(
                "the first row of the schedule matrix is above 0 but no known content was given"
            )
        increments = rows.diff(dim=1).clamp(min=0)  # (B, S, N)
        x = noise if known is None else interpolate(noise, known.image, rows[:, 0], c.patch_size)
        steps = TraceRecorder(trace)
        images = 0
        t = rows[:, 0]
        for k in range(increments.shape[1]):
            pred = predict(model, x, t, y, guidance)
            images += pred.images
            x = x + broadcast_patches(increments[:, k], c.patch_size, H, W) * pred.v
            t = rows[:, k + 1]
            if known is not None:
                x = torch.where(known.mask, interpolate(noise, known.image, t, c.patch_size), x)
            if trace:
                steps.append(trace_step(pred, x, t, c.patch_size))
        if known is not None:
            x = torch.where(known.mask, known.image, x)
        return SampleResult(x=x, nfe=increments.shape[1], images_forwarded=images, trace=steps)
