"""Held-out loss with fixed randomness, comparable across checkpoints and runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from patchforcing.core.loss import LossConfig, patch_forcing_loss
from patchforcing.core.time_dist import TimeDistribution
from patchforcing.data import ArrayData
from patchforcing.model import Condition, PatchModel

__all__ = ["ValidationLoss", "validation_loss"]


@dataclass(frozen=True)
class ValidationLoss:
    loss: float
    mse: float
    nll: float | None
    images: int


@torch.no_grad()
def validation_loss(
    model: PatchModel,
    data: ArrayData,
    time_dist: TimeDistribution,
    limit: int = 2000,
    batch_size: int = 250,
    seed: int = 1234,
    device: torch.device | str = "cpu",
    condition: Callable[[torch.Tensor, torch.Generator], Condition] | None = None,
) -> ValidationLoss:
    """Mean objective over the first ``limit`` images, labels kept (no dropout), fixed noise per
    batch. ``condition(index, generator)`` gives the condition of the images at ``index`` where it
    is not their class label (the captions of a text-to-image model)."""
    total = min(limit, len(data))
    sums = {"loss": 0.0, "mse": 0.0, "nll": 0.0}
    has_nll = False
    for start in range(0, total, batch_size):
        index = torch.arange(start, min(start + batch_size, total))
        x1, labels = data.batch(index)
        gen = torch.Generator().manual_seed(seed + start)
        if condition is None:
            y: Condition = labels.to(device)
        else:  # captions drawn from a stream of their own, apart from the noise and times
            y = condition(index, torch.Generator().manual_seed(seed + start + 2**40))
        out = patch_forcing_loss(
            model, x1.to(device), y, time_dist, gen, LossConfig(label_dropout=0.0)
        )
        weight = len(index) / total
        sums["loss"] += float(out.loss) * weight
        sums["mse"] += float(out.mse) * weight
        if out.nll is not None:
            has_nll = True
            sums["nll"] += float(out.nll) * weight
    return ValidationLoss(sums["loss"], sums["mse"], sums["nll"] if has_nll else None, total)
