"""Does cleaner context help the uncertain patches, and does it lower their predicted difficulty?

At base time t all patches sit at t; the fraction p with the lowest predicted difficulty are the
"context" (as in the samplers), the rest the "uncertain" patches U. The context is then moved to
t_c = min(r t, 1) by ground-truth interpolation (same noise and data), the uncertain patches stay at
t, and we record on U the velocity MSE and the predicted difficulty, for each ratio r. The paper
finds the loss on U falls as r grows, with an optimum near r = 2-2.5, and rises again at r t = 1;
and that cleaner context lowers the predicted difficulty of U.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from patchforcing.data import ArrayData
from patchforcing.evaluation.analysis.common import (
    AnalysisConfig,
    evaluate_at,
    labelled_batches,
    require_patch_model,
)
from patchforcing.model import PatchModel
from patchforcing.sampling import certain_mask

__all__ = ["ContextCurve", "ContextStudy", "context_study", "context_ratios"]

DEFAULT_BASE_TIMES = (0.2, 0.3, 0.4, 0.5)
DEFAULT_RATIOS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)


@dataclass(frozen=True)
class ContextCurve:
    base_t: float
    ratios: list[
        float
    ]  # context time as a multiple of base_t (the last one gives fully clean context)
    uncertain_mse: list[float]  # mean velocity MSE on the uncertain patches, per ratio
    difficulty_quantiles: list[
        list[float]
    ]  # per ratio: difficulty of U at quantiles 0.1, 0.25, 0.5, 0.75, 0.9
    difficulty_mean: list[float]


@dataclass(frozen=True)
class ContextStudy:
    certain_fraction: float
    quantiles: list[float]
    curves: list[ContextCurve]
    num_images: int


QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def context_ratios(t: float, ratios: tuple[float, ...] = DEFAULT_RATIOS) -> list[float]:
    """The context ratios studied at base time ``t``: every one below clean, then clean context."""
    return sorted({r for r in ratios if r * t < 1} | {1.0 / t})


def context_study(
    model: PatchModel,
    data: ArrayData,
    config: AnalysisConfig = AnalysisConfig(),
    base_times: tuple[float, ...] = DEFAULT_BASE_TIMES,
    ratios: tuple[float, ...] = DEFAULT_RATIOS,
    p: float = 0.4,
) -> ContextStudy:
    require_patch_model(model, "context")
    N = model.config.num_patches
    curves = []
    for t in base_times:
        rs = context_ratios(t, ratios)
        mse, count = [0.0] * len(rs), 0
        diffs: list[list[torch.Tensor]] = [
            [] for _ in rs
        ]  # per ratio: difficulties of U, one tensor per batch
        for x1, y, x0 in labelled_batches(data, config, model):
            B = x1.shape[0]
            base = torch.full((B, N), t)
            uncertain = ~certain_mask(
                evaluate_at(model, x0, x1, y, base).head_difficulty(), p
            )  # (B, N)
            for i, r in enumerate(rs):
                times = torch.where(uncertain, base, min(r * t, 1.0))  # (B, N)
                out = evaluate_at(model, x0, x1, y, times)
                mse[i] += float(out.loss[uncertain].sum())
                diffs[i].append(out.head_difficulty()[uncertain])
            count += int(uncertain.sum())
        pooled = [torch.cat(d).double() for d in diffs]
        q = torch.tensor(QUANTILES, dtype=torch.float64)
        curves.append(
            ContextCurve(
                t,
                rs,
                [m / count for m in mse],
                [torch.quantile(d, q).tolist() for d in pooled],
                [float(d.mean()) for d in pooled],
            )
        )
    return ContextStudy(p, list(QUANTILES), curves, min(config.num_images, len(data)))
