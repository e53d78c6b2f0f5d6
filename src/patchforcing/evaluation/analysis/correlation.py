"""How well the predicted difficulty tracks the actual per-patch loss, as a function of t.

At each t of a grid all patches sit at t (as at the start of a sampler step); over all
(image, patch) pairs we correlate the difficulty d_i = mean_patch exp(logvar) with the loss
l_i = mean_patch (v - u)^2: Pearson r(d, l) and Spearman rho = r(rank d, rank l). The paper reports
r ~ 0.52 at t = 0.6, 0.11 at t = 0.2.
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

__all__ = ["DifficultyCorrelation", "difficulty_correlation", "pearson", "spearman"]

DEFAULT_TIMES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.double().flatten(), b.double().flatten()]))[0, 1])


def _ranks(a: torch.Tensor) -> torch.Tensor:
    return a.flatten().argsort().argsort().double()


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    return pearson(_ranks(a), _ranks(b))


@dataclass(frozen=True)
class DifficultyCorrelation:
    times: list[float]
    pearson: list[float]
    spearman: list[float]
    num_images: int


def difficulty_correlation(
    model: PatchModel,
    data: ArrayData,
    config: AnalysisConfig = AnalysisConfig(),
    times: tuple[float, ...] = DEFAULT_TIMES,
) -> DifficultyCorrelation:
    require_patch_model(model, "difficulty-correlation")
    N = model.config.num_patches
    losses: dict[float, list[torch.Tensor]] = {t: [] for t in times}
    diffs: dict[float, list[torch.Tensor]] = {t: [] for t in times}
    count = 0
    for x1, y, x0 in labelled_batches(data, config, model):
        count += x1.shape[0]
        for t in times:
            out = evaluate_at(model, x0, x1, y, torch.full((x1.shape[0], N), t))
            losses[t].append(out.loss)
            diffs[t].append(out.head_difficulty())
    pairs = [(torch.cat(diffs[t]), torch.cat(losses[t])) for t in times]
    return DifficultyCorrelation(
        list(times),
        [pearson(d, loss) for d, loss in pairs],
        [spearman(d, loss) for d, loss in pairs],
        count,
    )
