"""Latent space: SD-VAE encoding / decoding (diffusers, optional); the latent shard format of
:mod:`patchforcing.data.latents` is re-exported here."""

from patchforcing.data.latent.vae import SD_VAE_SCALE, VaeCodec, load_vae
from patchforcing.data.latents import (
    MANIFEST,
    LatentArrays,
    ShardWriter,
    is_latent_folder,
    load_latents,
)

__all__ = [
    "MANIFEST",
    "LatentArrays",
    "ShardWriter",
    "is_latent_folder",
    "load_latents",
    "SD_VAE_SCALE",
    "VaeCodec",
    "load_vae",
]
