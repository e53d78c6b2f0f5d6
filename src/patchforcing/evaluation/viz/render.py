"""Panels: an image, or a per-patch map (B, N) shown on the patch grid with a
viridis-like colormap."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from patchforcing.utils.io.images import to_pil

__all__ = ["colorize", "image_panel", "patch_panel", "labelled"]

# Anchor colours of matplotlib's viridis at 0, 1/4, 1/2, 3/4, 1 (linear interpolation in between).
_VIRIDIS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)


def colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] of any shape -> uint8 RGB of shape (*shape, 3)."""
    pos = np.clip(values, 0.0, 1.0) * (len(_VIRIDIS) - 1)
    lo = np.minimum(pos.astype(np.int64), len(_VIRIDIS) - 2)
    frac = (pos - lo)[..., None]
    return np.round(_VIRIDIS[lo] * (1 - frac) + _VIRIDIS[lo + 1] * frac).astype(np.uint8)


def image_panel(image: torch.Tensor, size: int) -> Image.Image:
    """(C, H, W) in [-1, 1] -> RGB panel of ``size`` x ``size`` pixels (nearest upscaling)."""
    return to_pil(image).convert("RGB").resize((size, size), Image.Resampling.NEAREST)


def patch_panel(
    values: torch.Tensor | None, grid: int, size: int, lo: float = 0.0, hi: float = 1.0
) -> Image.Image:
    """Per-patch values (N,) on a grid x grid patch layout, mapped [lo, hi] -> colormap; grey
    if None."""
    if values is None:
        return Image.new("RGB", (size, size), (128, 128, 128))
    scaled = (values.detach().float().cpu().numpy().reshape(grid, grid) - lo) / max(hi - lo, 1e-12)
    return Image.fromarray(colorize(scaled)).resize((size, size), Image.Resampling.NEAREST)


def labelled(panels: list[Image.Image], label: str, gap: int = 4, header: int = 14) -> Image.Image:
    """Panels side by side on white with a one-line text header."""
    width = sum(p.width for p in panels) + gap * (len(panels) + 1)
    height = max(p.height for p in panels) + header + gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    left = gap
    for panel in panels:
        canvas.paste(panel, (left, header))
        left += panel.width + gap
    ImageDraw.Draw(canvas).text((gap, 1), label, fill=(0, 0, 0))
    return canvas
