"""Patch Forcing objective: velocity MSE plus lambda times the difficulty head's Gaussian NLL.

    L = mean((v - u)^2) + lambda * mean(0.5 * (log(2 pi) + logvar + (u - sg(v))^2 / exp(logvar)))

The stop-gradient sg(.) keeps the head from bending the velocity; at the optimum exp(logvar) is the
expected squared velocity error at that pixel. logvar (B, 1, H, W) broadcasts over the C channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from patchforcing.core.condition import Condition, drop_condition
from patchforcing.core.path import num_patches, pool_patches, sample_path
from patchforcing.core.protocol import PatchModel
from patchforcing.core.time_dist import TimeDistribution

__all__ = ["LossConfig", "LossOutput", "flow_loss", "patch_forcing_loss"]


@dataclass(frozen=True)
class LossConfig:
    nll_weight: float = 0.01
    logvar_min: float = -30.0
    logvar_max: float = 20.0
    label_dropout: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.label_dropout <= 1:
            raise ValueError(f"label_dropout must be in [0, 1], got {self.label_dropout}")
        if self.nll_weight < 0:
            raise ValueError(f"nll_weight must be >= 0, got {self.nll_weight}")
        if self.logvar_min >= self.logvar_max:
            raise ValueError("logvar_min must be below logvar_max")


@dataclass(frozen=True)
class LossOutput:
    """The training loss and its parts: ``loss`` to back-propagate, the velocity ``mse``, the
    difficulty head's ``nll`` (None without one), the detached per-patch error (B, N) and, from
    :func:`patch_forcing_loss`, the times it drew (B, N)."""

    loss: torch.Tensor  # () total, the one to back-propagate
    mse: torch.Tensor  # () velocity MSE
    nll: torch.Tensor | None  # () mean NLL, None without a difficulty head
    per_patch_mse: torch.Tensor  # (B, N) squared velocity error per patch (detached)
    t: torch.Tensor | None = None  # (B, N) per-patch times of the inputs, where known


def flow_loss(
    v: torch.Tensor,
    u: torch.Tensor,
    logvar: torch.Tensor | None,
    patch_size: int,
    config: LossConfig = LossConfig(),
) -> LossOutput:
    """The objective for given predictions v (B, C, H, W), target u and optional logvar
    (B, 1, H, W)."""
    sq = (v.float() - u.float()).square()  # (B, C, H, W)
    mse = sq.mean()
    per_patch = pool_patches(sq.detach(), patch_size)  # (B, N)
    if logvar is None:
        return LossOutput(loss=mse, mse=mse, nll=None, per_patch_mse=per_patch)
    logvar = logvar.float().clamp(config.logvar_min, config.logvar_max)
    sq_sg = (u.float() - v.detach().float()).square()
    nll = 0.5 * (math.log(2 * math.pi) + logvar + sq_sg / logvar.exp())  # (B, C, H, W)
    nll = nll.mean()
    return LossOutput(loss=mse + config.nll_weight * nll, mse=mse, nll=nll, per_patch_mse=per_patch)


def patch_forcing_loss(
    model: PatchModel,
    x1: torch.Tensor,
    y: Condition,
    time_dist: TimeDistribution,
    generator: torch.Generator | None = None,
    config: LossConfig = LossConfig(),
    rows: slice | None = None,
    global_batch: int | None = None,
) -> LossOutput:
    """Draw per-patch times and noise, drop labels to null, and evaluate the objective.

    Data-parallel ranks pass ``rows``, the rows of a ``global_batch`` that x1 holds: the randomness
    is drawn for the whole global batch and sliced, so the ranks together compute exactly what one
    process computes on the global batch (and a run can resume on a different number of ranks)."""
    p = model.config.patch_size
    B = global_batch or x1.shape[0]
    rows = rows or slice(0, B)
    t = time_dist(
        B, num_patches(x1.shape[-2], x1.shape[-1], p), device=x1.device, generator=generator
    )[rows]
    gen_device = generator.device if generator is not None else x1.device
    noise = torch.randn((B, *x1.shape[1:]), generator=generator, device=gen_device, dtype=x1.dtype)[
        rows
    ].to(x1.device)
    drop = (
        torch.rand(B, generator=generator, device=gen_device)[rows].to(x1.device)
        < config.label_dropout
    )
    y = drop_condition(y, drop, model.config.num_classes)
    path = sample_path(x1, t, p, x0=noise)
    out = model(path.xt, path.t, y)
    return replace(flow_loss(out.v, path.u, out.logvar, p, config), t=path.t)
