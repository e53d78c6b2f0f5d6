"""Shared pieces of the analyses: fixed data batches and one velocity evaluation at
per-patch times."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from patchforcing.core.condition import text_encoder_of
from patchforcing.core.path import pool_patches, sample_path
from patchforcing.data import ArrayData
from patchforcing.model import Condition, PatchModel

__all__ = ["AnalysisConfig", "PatchEval", "labelled_batches", "evaluate_at", "require_patch_model"]


@dataclass(frozen=True)
class AnalysisConfig:
    num_images: int = 500
    batch_size: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.num_images, self.batch_size) < 1:
            raise ValueError(f"num_images and batch_size must be >= 1, got {self}")


@dataclass(frozen=True)
class PatchEval:
    """Per-patch squared velocity error and predicted difficulty at given per-patch times."""

    loss: torch.Tensor  # (B, N) mean of (v - u)^2 over each patch
    difficulty: torch.Tensor | None  # (B, N), None without a difficulty head

    def head_difficulty(self) -> torch.Tensor:
        """``difficulty`` for the analyses that need the head (:func:`require_patch_model`),
        (B, N)."""
        if self.difficulty is None:
            raise ValueError("this analysis needs a model with a difficulty head")
        return self.difficulty


def labelled_batches(
    data: ArrayData, config: AnalysisConfig, model: PatchModel
) -> Iterator[tuple[torch.Tensor, Condition, torch.Tensor]]:
    """(x1 (B, C, H, W), y, x0 noise (B, C, H, W)) over the first ``num_images`` images, seeded; y
    is the class labels (B,), or for a text-to-image model the first caption of each
    image, encoded."""
    encoder = text_encoder_of(model)
    total = min(config.num_images, len(data))
    for start in range(0, total, config.batch_size):
        index = torch.arange(start, min(start + config.batch_size, total))
        x1, labels = data.batch(index)
        x0 = torch.randn(
            x1.shape, generator=torch.Generator().manual_seed(config.seed * 1_000_003 + start)
        )
        if encoder is None:
            yield x1, labels, x0
            continue
        if not data.has_captions:
            raise ValueError(
                "analysing a text-to-image model needs held-out images with "
                "captions (e.g. --data emoji)"
            )
        yield x1, encoder.encode([data.captions[i][0] for i in index.tolist()]), x0


@torch.no_grad()
def evaluate_at(
    model: PatchModel, x0: torch.Tensor, x1: torch.Tensor, y: Condition, t: torch.Tensor
) -> PatchEval:
    """Interpolate with the ground truth to per-patch times t (B, N) and evaluate the
    model there."""
    p = model.config.patch_size
    path = sample_path(x1, t, p, x0=x0)
    out = model(path.xt, t if model.config.time_mode == "patch" else t[:, 0], y)
    loss = pool_patches((out.v.float() - path.u.float()).square(), p)  # (B, N)
    return PatchEval(loss, out.difficulty(p) if out.logvar is not None else None)


def require_patch_model(model: PatchModel, what: str) -> None:
    c = model.config
    if c.time_mode != "patch" or not c.difficulty_head:
        raise ValueError(
            f"the {what} analysis needs a Patch Forcing model (per-patch time "
            "and a difficulty head)"
        )
