"""Images out of :func:`~patchforcing.sampling.generation.generate` as files or PIL images: the
tensor it returns is the one output form; these turn it into what viewers and other libraries take.

Example::

    images = generate(model, GenerationConfig(num_images=4))  # (4, C, H, W) in [-1, 1]
    pictures = to_pil_images(images)  # 4 PIL images, grey or RGB
    save_images(images, "out", ["a", "b", "c", "d"])  # out/a.png ... out/d.png
    save_grid(images, "grid.png", scale=4)  # one upscaled 2 x 2 grid
"""

from __future__ import annotations

import torch
from PIL import Image

from patchforcing.utils.io.images import save_grid, save_images, to_pil

__all__ = ["save_grid", "save_images", "to_pil", "to_pil_images"]


def to_pil_images(images: torch.Tensor) -> list[Image.Image]:
    """One PIL image (mode ``L`` for one channel, ``RGB`` for three) per image of a
    (B, C, H, W) batch in [-1, 1], the range :func:`generate` returns; values outside it are
    clipped."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (B, 1 or 3, H, W), got {tuple(images.shape)}")
    return [to_pil(image) for image in images.detach().float().cpu()]
