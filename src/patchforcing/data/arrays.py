"""In-memory image datasets: uint8 images plus integer labels, served as floats in [-1, 1]."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from patchforcing.io.pixels import from_model_range, to_model_range

__all__ = ["ArrayData", "ImageArrays", "to_model_range", "from_model_range"]  # pixel helpers re-exported


class ArrayData(Protocol):
    """What training, validation and the analyses read from a dataset: :class:`ImageArrays` and
    :class:`~patchforcing.data.latents.LatentArrays` (encoded latents) serve it the same way."""

    @property
    def class_names(self) -> tuple[str, ...]: ...

    @property
    def skipped(self) -> tuple[str, ...]: ...

    @property
    def num_classes(self) -> int: ...

    @property
    def channels(self) -> int: ...

    @property
    def image_size(self) -> int: ...

    def __len__(self) -> int: ...

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Model inputs (B, C, H, W) and labels (B,) for the given indices."""
        ...


@dataclass(frozen=True)
class ImageArrays:
    """A whole dataset in memory: images (M, C, H, W) uint8, labels (M,) int64 in [0, num_classes).

    ``skipped`` lists the files the loader left out under the ``skip`` bad-file policy, one
    ``"path: reason"`` each, so the caller can report them and their count."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...] = field(default_factory=tuple)
    skipped: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 of shape (M, C, H, W), "
                             f"got {self.images.dtype} {tuple(self.images.shape)}")
        if self.images.shape[1] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels, got {self.images.shape[1]}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must have shape ({self.images.shape[0]},), got {tuple(self.labels.shape)}")
        if len(self) == 0:
            raise ValueError("the dataset is empty")
        if self.labels.min() < 0 or (self.class_names and self.labels.max() >= len(self.class_names)):
            raise ValueError(f"labels must lie in [0, {self.num_classes}) to match the {self.num_classes} class names, "
                             f"got [{int(self.labels.min())}, {int(self.labels.max())}]")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.class_names else int(self.labels.max()) + 1

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images in [-1, 1] (B, C, H, W) and labels (B,) for the given indices."""
        return to_model_range(self.images[index]), self.labels[index]

    @classmethod
    def from_numpy(cls, images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...] = (),
                   skipped: tuple[str, ...] = ()) -> ImageArrays:
        return cls(torch.from_numpy(np.array(images, dtype=np.uint8, copy=True)),
                   torch.from_numpy(labels.astype(np.int64)), class_names, skipped)
