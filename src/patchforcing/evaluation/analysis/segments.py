"""Validation loss per time segment: [0, 1] cut into K equal segments (the paper uses K = 8).

For segment k every image gets one time t ~ U(k/K, (k+1)/K), shared by all its patches, and the
segment's loss is the mean velocity MSE  E ||v(x_t, t, y) - (x1 - x0)||^2 / (C H W).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from patchforcing.data import ArrayData
from patchforcing.evaluation.analysis.common import AnalysisConfig, evaluate_at, labelled_batches
from patchforcing.model import PatchModel

__all__ = ["SEGMENTS", "SegmentLoss", "segment_losses"]

SEGMENTS = 8  # the paper's K


@dataclass(frozen=True)
class SegmentLoss:
    edges: list[float]  # K + 1 segment boundaries
    mse: list[float]  # K mean velocity MSEs
    mean_difficulty: list[float] | None  # K mean predicted difficulties, None without a head
    num_images: int


def segment_losses(
    model: PatchModel,
    data: ArrayData,
    config: AnalysisConfig = AnalysisConfig(),
    segments: int = SEGMENTS,
) -> SegmentLoss:
    N = model.config.num_patches
    edges = torch.linspace(0, 1, segments + 1).tolist()
    mse, diff = [0.0] * segments, [0.0] * segments
    count, has_head = 0, model.config.difficulty_head
    for x1, y, x0 in labelled_batches(data, config, model):
        B = x1.shape[0]
        gen = torch.Generator().manual_seed(config.seed + count)
        u = torch.rand(segments, B, generator=gen)  # (K, B) position inside each segment
        for k in range(segments):
            t = (edges[k] + (edges[k + 1] - edges[k]) * u[k])[:, None].expand(B, N)  # (B, N)
            out = evaluate_at(model, x0, x1, y, t)
            mse[k] += float(out.loss.mean()) * B
            if out.difficulty is not None:  # exactly when the model has a difficulty head
                diff[k] += float(out.difficulty.mean()) * B
        count += B
    return SegmentLoss(
        edges, [m / count for m in mse], [d / count for d in diff] if has_head else None, count
    )
