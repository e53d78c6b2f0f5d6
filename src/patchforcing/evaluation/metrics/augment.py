"""Training augmentation of the second feature classifier: shifts, flips, pixel noise, erasing.

Images are in the model range [-1, 1]; -1 is a black (0) pixel, the background of Fashion-MNIST, so
shifted-in borders and erased boxes are filled with -1. Every draw comes from the generator passed
in, so a seed reproduces a batch exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["AugmentConfig", "augment"]


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentations of the classifier's training images: shifts, flips, pixel noise and an
    erased box, each field a strength (0 or False turns it off)."""

    max_shift: int = 2  # pixels, each axis, uniform in [-max_shift, max_shift]
    flip: bool = True  # horizontal flip with probability 1/2
    noise_std: float = 0.05  # per image sd ~ U(0, noise_std) of Gaussian pixel noise
    erase_prob: float = 0.25  # probability of one erased box per image
    erase_max: float = 0.4  # largest box side, as a share of the image side

    def __post_init__(self) -> None:
        if (
            self.max_shift < 0
            or self.noise_std < 0
            or not 0 <= self.erase_prob <= 1
            or not 0 < self.erase_max <= 1
        ):
            raise ValueError(f"invalid augmentation {self}")


def _shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    B, _, H, W = x.shape
    s = max_shift
    padded = torch.nn.functional.pad(x, (s, s, s, s), value=-1.0)  # (B, C, H + 2s, W + 2s)
    dy, dx = torch.randint(0, 2 * s + 1, (2, B), generator=gen)
    rows = (torch.arange(H)[None, :] + dy[:, None])[:, :, None]  # (B, H, 1)
    cols = (torch.arange(W)[None, :] + dx[:, None])[:, None, :]  # (B, 1, W)
    return padded[torch.arange(B)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)  # (B, C, H, W)


def _erase(x: torch.Tensor, config: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    B, _, H, W = x.shape
    hit = torch.rand(B, generator=gen) < config.erase_prob
    h = (torch.rand(B, generator=gen) * config.erase_max * H).long().clamp(min=1)
    w = (torch.rand(B, generator=gen) * config.erase_max * W).long().clamp(min=1)
    top = (torch.rand(B, generator=gen) * (H - h + 1)).long()
    left = (torch.rand(B, generator=gen) * (W - w + 1)).long()
    r, c = torch.arange(H)[None, :], torch.arange(W)[None, :]
    in_rows = (r >= top[:, None]) & (r < (top + h)[:, None])  # (B, H)
    in_cols = (c >= left[:, None]) & (c < (left + w)[:, None])  # (B, W)
    box = (in_rows[:, :, None] & in_cols[:, None, :] & hit[:, None, None])[:, None]  # (B, 1, H, W)
    return x.masked_fill(box, -1.0)


def augment(x: torch.Tensor, config: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Augmented copy of images (B, C, H, W) in [-1, 1]; same shape, values stay in [-1, 1]."""
    if config.max_shift:
        x = _shift(x, config.max_shift, gen)
    if config.flip:
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if config.noise_std:
        sd = torch.rand(x.shape[0], 1, 1, 1, generator=gen) * config.noise_std
        x = (x + sd * torch.randn(x.shape, generator=gen)).clamp(-1.0, 1.0)
    if config.erase_prob:
        x = _erase(x, config, gen)
    return x
