"""Background noise: how far generated images are from an exactly black background.

Many datasets (Fashion-MNIST among them) have a background of exactly 0. Per class, the background
mask is the set of pixels that are 0 in at least ``share`` of the reference images of that class;
the background level of a set of images is their mean pixel value (0-255) over the masks of their
classes. Real test images score a little above 0 (a few objects reach into the mask); residual noise
of an under-trained or badly integrated model raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["BackgroundMasks", "background_masks"]


@dataclass(frozen=True)
class BackgroundMasks:
    masks: torch.Tensor  # (K, 1, H, W) bool, one per class (an all-False mask: no background for that class)

    def sums(self, pixels: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
        """(sum of pixel values over the background, number of background pixels) of uint8 images
        (B, C, H, W) with class labels (B,)."""
        mask = self.masks[labels.long()].expand_as(pixels)  # (B, C, H, W)
        return float(pixels.double()[mask].sum()), int(mask.sum())

    def level(self, pixels: torch.Tensor, labels: torch.Tensor) -> float | None:
        """Mean background pixel value (0-255), None when the masks cover no pixel of these classes."""
        total, count = self.sums(pixels, labels)
        return total / count if count else None


def background_masks(images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                     share: float = 0.95) -> BackgroundMasks:
    """Masks from uint8 reference images (N, C, H, W) and labels (N,): a pixel is background for a
    class when it is 0 in every channel in at least ``share`` of that class's images."""
    if images.dtype != torch.uint8:
        raise ValueError(f"background masks need uint8 images, got {images.dtype}")
    _, _, H, W = images.shape
    zero = (images == 0).all(dim=1, keepdim=True)  # (N, 1, H, W)
    masks = torch.zeros(max(num_classes, 1), 1, H, W, dtype=torch.bool)
    for k in range(masks.shape[0]):
        members = zero[labels == k] if num_classes else zero
        if len(members):
            masks[k] = members.float().mean(dim=0) >= share
    return BackgroundMasks(masks)
