"""Background noise: how far generated images are from the dataset's plain background.

Many datasets have a background of one exact colour: 0 in Fashion-MNIST, white (255, 255, 255) in
the emoji sets and in folders of images with transparency (composited onto white). Per class, the
background colour is the most common pixel colour of that class's reference images, and the
background mask is the set of pixels that hold exactly that colour in at least ``share`` of them;
images without a class (those of a text-to-image model, label -1) use the colour and mask of all
reference images.
The background level of a set of images is their mean absolute difference from their class's colour
(0-255, over every channel) on the masks of their classes; on a black background that is the mean
pixel value.
Real test images score a little above 0 (a few objects reach into the mask); residual noise of an
under-trained or badly integrated model raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["BackgroundMasks", "background_masks"]


@dataclass(frozen=True)
class BackgroundMasks:
    """Where each class's images (and all images) share a constant background, and its colour:
    masks (K + 1, 1, H, W) and colours (K + 1, C), the last row for all images together."""

    masks: (
        torch.Tensor
    )  # (K + 1, 1, H, W) bool: one per class, then all images (all-False: no background)
    colours: (
        torch.Tensor
    )  # (K + 1, C) uint8: each class's background colour, then that of all images

    def rows(self, labels: torch.Tensor) -> torch.Tensor:
        """(B,) row of each label: its class, or the last row (all images) for a negative label or a
        reference without classes; a class the reference does not have is a ValueError (images of
        another data set)."""
        labels = labels.long()
        classes = self.masks.shape[0] - 1
        if classes == 0:
            return torch.zeros_like(labels)
        if len(labels) and int(labels.max()) >= classes:
            raise ValueError(
                f"class {int(labels.max())} is beyond the reference's {classes} classes "
                f"(0-{classes - 1}); score against the reference these images' classes come from"
            )
        return torch.where(labels < 0, classes, labels)

    def sums(self, pixels: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
        """(sum of absolute differences from the background colour over the background, number of
        background values) of uint8 images (B, C, H, W) with class labels (B,)."""
        k = self.rows(labels)
        mask = self.masks[k].expand_as(pixels)  # (B, C, H, W)
        diff = (pixels.double() - self.colours[k].double()[:, :, None, None]).abs()  # (B, C, H, W)
        return float(diff[mask].sum()), int(mask.sum())

    def level(self, pixels: torch.Tensor, labels: torch.Tensor) -> float | None:
        """Mean absolute difference from the background colour (0-255) on the background, None when
        the masks cover no pixel of these classes."""
        total, count = self.sums(pixels, labels)
        return total / count if count else None


def background_masks(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int, share: float = 0.95
) -> BackgroundMasks:
    """Masks and colours from uint8 reference images (N, C, H, W) and labels (N,): a class's colour
    is its most common pixel colour, and a pixel is background for the class when it holds that
    colour in every channel in at least ``share`` of the class's images; a last row does the same
    over all images (the only row when ``num_classes`` is 0)."""
    if images.dtype != torch.uint8:
        raise ValueError(f"background masks need uint8 images, got {images.dtype}")
    _, C, H, W = images.shape
    shifts = 8 * torch.arange(C)  # (C,): the bits of each channel in a colour's integer code
    codes = (images.long() << shifts.view(1, C, 1, 1)).sum(
        dim=1
    )  # (N, H, W): one integer per colour
    masks = torch.zeros(num_classes + 1, 1, H, W, dtype=torch.bool)
    colours = torch.zeros(num_classes + 1, C, dtype=torch.uint8)
    for k in range(num_classes + 1):
        members = codes[labels == k] if k < num_classes else codes  # (n, H, W)
        if len(members):
            values, counts = members.unique(return_counts=True)
            code = values[counts.argmax()]
            masks[k, 0] = (members == code).float().mean(dim=0) >= share
            colours[k] = (code >> shifts) & 255
    return BackgroundMasks(masks, colours)
