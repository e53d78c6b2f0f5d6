"""k-NN manifold metrics on features: precision / recall (Kynkaenniemi et al. 2019) and
density / coverage (Naeem et al. 2020).

With r_k(a) the distance from a to its k-th nearest neighbour within its own set,
B(a) = {z : ||z - a|| <= r_k(a)}, real features R (M of them) and generated features G (n):

    precision = 1/n sum_j 1[g_j in U_i B(r_i)]
    recall    = 1/M sum_i 1[r_i in U_j B(g_j)]
    density   = 1/(k n) sum_j sum_i 1[g_j in B(r_i)]
    coverage  = 1/M sum_i 1[exists j: g_j in B(r_i)]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ManifoldMetrics", "manifold_metrics", "kth_neighbour_radius"]


@dataclass(frozen=True)
class ManifoldMetrics:
    """Precision and recall (k-NN manifolds), density and coverage of generated features
    against real ones, each in [0, 1] (density may exceed 1)."""

    precision: float
    recall: float
    density: float
    coverage: float


def _chunks(n: int, size: int = 2048):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each row of x (M, D) to its k-th nearest other row, (M,)."""
    if x.shape[0] <= k:
        raise ValueError(f"need more than k={k} feature vectors, got {x.shape[0]}")
    radii = [
        torch.cdist(x[s], x).topk(k + 1, dim=1, largest=False).values[:, k]
        for s in _chunks(x.shape[0])
    ]
    return torch.cat(radii)  # the 0-th neighbour is the point itself


def _inside_counts(
    points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """How many balls B(centre_i, r_i) hold each point (P,), and whether each ball holds any
    point (M,)."""
    counts, hit = [], torch.zeros(centres.shape[0], dtype=torch.bool)
    for s in _chunks(points.shape[0]):
        inside = torch.cdist(points[s], centres) <= radii[None, :]  # (chunk, M)
        counts.append(inside.sum(1))
        hit |= inside.any(0)
    return torch.cat(counts), hit


def manifold_metrics(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> ManifoldMetrics:
    """Precision, recall, density and coverage of generated features ``fake`` (n, D) against
    ``real`` (M, D)."""
    real, fake = real.double(), fake.double()
    r_real, r_fake = kth_neighbour_radius(real, k), kth_neighbour_radius(fake, k)
    fake_in_real, real_ball_hit = _inside_counts(fake, real, r_real)
    real_in_fake, _ = _inside_counts(real, fake, r_fake)
    return ManifoldMetrics(
        precision=float((fake_in_real > 0).double().mean()),
        recall=float((real_in_fake > 0).double().mean()),
        density=float(fake_in_real.double().sum() / (k * fake.shape[0])),
        coverage=float(real_ball_hit.double().mean()),
    )
