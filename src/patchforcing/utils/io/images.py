"""Writing samples as PNG files and grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from patchforcing.utils.io.atomic import atomic_write
from patchforcing.utils.io.pixels import from_model_range

__all__ = ["to_pil", "make_grid", "save_grid", "save_images", "load_png"]


def to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) in [-1, 1] -> a grey (C = 1) or RGB (C = 3) PIL image; values outside [-1, 1]
    are clipped. A batch: :func:`patchforcing.to_pil_images`."""
    array = from_model_range(image).cpu().numpy()  # (C, H, W) uint8
    return Image.fromarray(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> torch.Tensor:
    """(B, C, H, W) -> one (C, H', W') image with a ``padding``-pixel white frame between tiles."""
    B, C, H, W = images.shape
    nrow = nrow or math.ceil(math.sqrt(B))
    rows = math.ceil(B / nrow)
    grid = torch.ones(
        C, rows * (H + padding) + padding, nrow * (W + padding) + padding, dtype=images.dtype
    )
    for i, img in enumerate(images.cpu()):
        r, c = divmod(i, nrow)
        top, left = padding + r * (H + padding), padding + c * (W + padding)
        grid[:, top : top + H, left : left + W] = img
    return grid


def _save(image: Image.Image, path: Path, scale: int) -> Path:
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG"), "image")


def save_grid(
    images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 1
) -> Path:
    """Save (B, C, H, W) in [-1, 1] as one PNG grid, optionally upscaled for viewing.

    Args:
        images: (B, C, H, W) in [-1, 1].
        path: the PNG file, written atomically.
        nrow: images per row (default: a square grid).
        scale: integer upscaling, nearest neighbour (4 makes 28 x 28 tiles 112 x 112).
    """
    return _save(to_pil(make_grid(images, nrow)), Path(path), scale)


def save_images(images: torch.Tensor, folder: str | Path, names: list[str]) -> list[Path]:
    """Save each image of (B, C, H, W) in [-1, 1] as ``folder/<name>.png`` (the folder is
    created, each file written atomically); returns the paths.

    Example::

        save_images(images, "out", [f"{i:05d}" for i in range(len(images))])
    """
    if len(names) != images.shape[0]:
        raise ValueError(f"got {len(names)} names for {images.shape[0]} images")
    folder = Path(folder)
    return [_save(to_pil(img), folder / f"{name}.png", 1) for img, name in zip(images, names)]


def load_png(path: str | Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)
