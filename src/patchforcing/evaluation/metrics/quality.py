"""All quality metrics of one generated feature set against a reference feature set.

FD (Frechet distance of Gaussians fitted to the features) and KID (unbiased polynomial-kernel MMD^2,
mean and spread over random subsets) come from torchmetrics, fed our features through an identity
extractor; the k-NN metrics from :mod:`patchforcing.evaluation.metrics.manifold`. The manifold
metrics compare equally many real and generated vectors (a seeded subset of the reference), as their
authors advise.

    FD = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^{1/2})
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from patchforcing.evaluation.metrics.manifold import manifold_metrics

__all__ = ["QualityMetrics", "compute_quality", "frechet_distance", "kernel_distance"]


@dataclass(frozen=True)
class QualityMetrics:
    """All quality metrics in one feature space: FD, KID (mean and std over subsets), the
    manifold metrics, and how many real and generated images they used."""

    fd: float
    kid: float  # mean over subsets of the unbiased MMD^2 estimate
    kid_std: float
    precision: float
    recall: float
    density: float
    coverage: float
    num_real: int
    num_fake: int


class _Given(nn.Module):
    """Identity 'extractor': torchmetrics receives features we computed ourselves."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FD between Gaussians fitted to two feature sets (M, D) and (n, D)."""
    metric = FrechetInceptionDistance(
        feature=_Given(real.shape[1]), sync_on_compute=False
    )  # features are complete
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return max(
        float(metric.compute()), 0.0
    )  # eigenvalue round-off can give -1e-12 for identical sets


def kernel_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: mean and standard deviation over ``subsets`` random subsets of the unbiased MMD^2 with
    the kernel k(a, b) = (a.b / D + 1)^3."""
    size = min(subset_size, real.shape[0], fake.shape[0])
    with (
        warnings.catch_warnings()
    ):  # it warns that it keeps all features: ours are already in memory
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        # sync_on_compute=False: never all-gather under torchrun, the features are complete
        metric = KernelInceptionDistance(
            feature=_Given(real.shape[1]), subsets=subsets, subset_size=size, sync_on_compute=False
        )
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # torchmetrics draws the subsets with the global generator
        mean, std = metric.compute()
    return float(mean), float(std)


def compute_quality(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int = 5,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> QualityMetrics:
    """Every metric of ``fake`` (n, D) against ``real`` (M, D)."""
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"expected feature matrices (M, D) and (n, D), "
            f"got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(
            f"need more than k={k} images on each side, "
            f"got {real.shape[0]} real and {fake.shape[0]} generated"
        )
    kid, kid_std = kernel_distance(real, fake, kid_subsets, kid_subset_size, seed)
    pick = torch.randperm(real.shape[0], generator=torch.Generator().manual_seed(seed))[
        : fake.shape[0]
    ]
    manifold = manifold_metrics(real[pick], fake, k)
    return QualityMetrics(
        fd=frechet_distance(real, fake),
        kid=kid,
        kid_std=kid_std,
        precision=manifold.precision,
        recall=manifold.recall,
        density=manifold.density,
        coverage=manifold.coverage,
        num_real=real.shape[0],
        num_fake=fake.shape[0],
    )
