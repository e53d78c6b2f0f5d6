"""The pixel convention: images are uint8 in [0, 255] on disk and float in [-1, 1] inside the model.

It lives in the lowest layer because both sides use it: the datasets (``patchforcing.data``) read
pixels into the model range, and the image writers (:mod:`patchforcing.utils.io.images`) turn model
outputs back into pixels.
"""

from __future__ import annotations

import torch

__all__ = ["to_model_range", "from_model_range"]


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float() / 127.5 - 1.0


def from_model_range(x: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255] (clamped)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
