"""One seed per image: any image of a batch can be regenerated alone."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["noise_for_seeds", "labels_for_seeds"]


def noise_for_seeds(
    seeds: Sequence[int],
    shape: tuple[int, ...],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal noise (len(seeds), *shape); image i depends on seeds[i] only
    (drawn on CPU), so an image can be regenerated alone and in any batch.

    Args:
        seeds: one seed per image.
        shape: the shape of one image, (C, H, W).
        device, dtype: of the returned tensor.

    Example::

        noise = noise_for_seeds(range(8), (1, 28, 28))  # (8, 1, 28, 28)
        torch.equal(noise[3], noise_for_seeds([3], (1, 28, 28))[0])  # True
    """
    draws = [torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(draws).to(device=device, dtype=dtype)


def labels_for_seeds(
    seeds: Sequence[int], num_classes: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """A random class per image drawn from its own seed (offset so it is independent of
    the noise)."""
    if num_classes < 1:
        return torch.zeros(len(seeds), dtype=torch.long, device=device)
    labels = [
        int(
            torch.randint(
                num_classes, (1,), generator=torch.Generator().manual_seed(int(s) + 2**40)
            )
        )
        for s in seeds
    ]
    return torch.tensor(labels, dtype=torch.long, device=device)
