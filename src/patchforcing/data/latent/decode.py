"""Decode-when-sampling: turn a latent model's samples into images, or pass pixels through."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from patchforcing.core.protocol import PatchModelConfig
from patchforcing.data.latent.vae import WEIGHTS_HINT, VaeCodec

__all__ = ["is_latent_model", "image_decoder"]

IMAGE_CHANNELS = (1, 3)


def is_latent_model(config: PatchModelConfig) -> bool:
    """Pixel models see grey or RGB images; any other channel count (4 for the SD-VAE) is a
    latent model."""
    return config.in_channels not in IMAGE_CHANNELS


def image_decoder(
    config: PatchModelConfig,
    vae: str | Path | None,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function from the model's samples (B, C, H, W) to images in [-1, 1]: the VAE decoder for a
    latent model (which then needs ``vae``), the identity for a pixel model (which refuses one)."""
    if not is_latent_model(config):
        if vae is not None:
            raise ValueError(
                f"this model generates {config.in_channels}-channel pixels; "
                f"--vae is only for latent models"
            )
        return lambda x: x
    if vae is None:
        raise ValueError(
            f"this model generates {config.in_channels}-channel latents; to decode them, "
            f"{WEIGHTS_HINT}"
        )
    codec = VaeCodec.load(vae, device, batch_size)
    if codec.latent_channels != config.in_channels:
        raise ValueError(
            f"the VAE at {vae} has {codec.latent_channels} latent channels, "
            f"the model {config.in_channels}"
        )
    return codec.decode
