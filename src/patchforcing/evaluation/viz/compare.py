"""A grid comparing samplers at equal NFE: one row per sampler
(same noise and classes), labelled."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw

from patchforcing.utils.io.atomic import atomic_write
from patchforcing.utils.io.images import make_grid, to_pil

__all__ = ["compare_grid", "save_compare_grid"]


def compare_grid(
    rows: list[tuple[str, torch.Tensor]], scale: int = 2, label_width: int = 150
) -> Image.Image:
    """``rows`` of (label, images (B, C, H, W) in [-1, 1]) -> one RGB picture, labels on
    the left."""
    if not rows:
        raise ValueError("nothing to compare")
    B = rows[0][1].shape[0]
    grid = to_pil(make_grid(torch.cat([images.cpu() for _, images in rows]), nrow=B)).convert("RGB")
    grid = grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (grid.width + label_width, grid.height), (255, 255, 255))
    canvas.paste(grid, (label_width, 0))
    draw = ImageDraw.Draw(canvas)
    row_height = grid.height / len(rows)
    for r, (label, _) in enumerate(rows):
        draw.text((4, int(r * row_height + row_height / 2) - 6), label, fill=(0, 0, 0))
    return canvas


def save_compare_grid(
    rows: list[tuple[str, torch.Tensor]], path: str | Path, scale: int = 2
) -> Path:
    picture = compare_grid(rows, scale)
    return atomic_write(Path(path), lambda tmp: picture.save(tmp, format="PNG"))
