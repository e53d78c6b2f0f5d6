"""The order in which a data set is read: epochs of a seeded permutation, a pure function of
(step, seed), so that a resumed run reads the same batches and needs no data-loader state."""

from __future__ import annotations

import torch

__all__ = ["batch_indices", "seed64"]


def batch_indices(step: int, batch_size: int, dataset_size: int, seed: int) -> torch.Tensor:
    """Indices of the global batch at ``step``: epochs of a seeded permutation, the last partial
    batch of each epoch dropped. A pure function of its arguments, so resuming needs no
    data state."""
    if dataset_size < batch_size:
        raise ValueError(
            f"the dataset has {dataset_size} images, fewer than the batch size {batch_size}"
        )
    per_epoch = dataset_size // batch_size
    epoch, offset = divmod(step, per_epoch)
    perm = torch.randperm(
        dataset_size, generator=torch.Generator().manual_seed(seed64(seed * 100_003 + epoch))
    )
    return perm[offset * batch_size : (offset + 1) * batch_size]


def seed64(value: int) -> int:
    """A derived seed folded into the 64 bits a torch generator takes (unchanged below 2**64, so
    runs of small seeds keep their numbers)."""
    return value % 2**64
