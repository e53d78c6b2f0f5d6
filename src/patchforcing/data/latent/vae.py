"""SD-VAE style latent space: a diffusers ``AutoencoderKL`` loaded from local files.

Encoding takes the mode (mean) of the posterior and multiplies by the scale 0.18215, as the
authors do; decoding divides by it. Images are in [-1, 1] on both sides. diffusers is an optional
dependency (``pip install 'patchforcing[latent]'``), imported only here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from patchforcing.utils.extras import MissingExtraError

__all__ = [
    "SD_VAE_SCALE",
    "MissingExtraError",
    "Autoencoder",
    "VaeCodec",
    "load_vae",
    "INSTALL_HINT",
    "WEIGHTS_HINT",
]

SD_VAE_SCALE = 0.18215
INSTALL_HINT = "pip install 'patchforcing[latent]' (or: pip install 'diffusers>=0.30')"
WEIGHTS_HINT = (
    "pass --vae with a local folder holding config.json and diffusion_pytorch_model.safetensors, "
    "e.g. after `huggingface-cli download stabilityai/sd-vae-ft-ema --local-dir sd-vae-ft-ema`, or "
    "a single .safetensors/.ckpt file of an original SD VAE"
)


class Autoencoder(Protocol):
    """What the codec uses of a diffusers ``AutoencoderKL`` (typed here: diffusers is optional)."""

    @property
    def config(self) -> Any:
        """Read by attribute: ``latent_channels``, ``block_out_channels``, ``scaling_factor``."""
        ...

    def encode(self, x: torch.Tensor) -> Any:
        """An ``AutoencoderKLOutput``: ``.latent_dist.mode()``."""
        ...

    def decode(self, z: torch.Tensor) -> Any:
        """A ``DecoderOutput``: ``.sample``."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...


def _autoencoder_class():
    try:
        from diffusers import AutoencoderKL
    except ImportError as err:
        raise MissingExtraError(
            f"latent space needs diffusers, which is not installed: {INSTALL_HINT}"
        ) from err
    return AutoencoderKL


def load_vae(
    path: str | Path | None, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> Autoencoder:
    """An ``AutoencoderKL`` from a local diffusers folder or a single weights file, in eval mode.
    Nothing is downloaded."""
    if path is None:
        raise ValueError(f"this needs the SD-VAE weights: {WEIGHTS_HINT}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"VAE weights {path} do not exist; {WEIGHTS_HINT}")
    cls = _autoencoder_class()
    try:
        if path.is_dir():
            vae = cls.from_pretrained(str(path), local_files_only=True)
        else:
            vae = cls.from_single_file(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise ValueError(
            f"cannot load an AutoencoderKL from {path}: {err}; {WEIGHTS_HINT}"
        ) from err
    return vae.to(device=device, dtype=dtype).eval().requires_grad_(False)


@dataclass(frozen=True)
class VaeCodec:
    """Images (B, 3, H, W) in [-1, 1] <-> scaled latents (B, 4, H/8, W/8), in batches
    of ``batch_size``."""

    vae: Autoencoder
    scale: float = SD_VAE_SCALE
    batch_size: int = 32

    @classmethod
    def load(
        cls, path: str | Path | None, device: torch.device | str = "cpu", batch_size: int = 32
    ) -> VaeCodec:
        """The VAE at ``path`` with its own ``scaling_factor`` (0.18215 for the SD-VAE)."""
        vae = load_vae(path, device)
        return cls(vae, float(getattr(vae.config, "scaling_factor", SD_VAE_SCALE)), batch_size)

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, C_lat, H/f, W/f) float32: posterior mode times
        the scale."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(
                f"the VAE encodes RGB images (B, 3, H, W), got {tuple(images.shape)}; "
                f"use --channels 3 for image folders"
            )
        out = []
        for chunk in images.split(self.batch_size):
            posterior = self.vae.encode(chunk.to(self.device, self.dtype)).latent_dist
            out.append(posterior.mode().float() * self.scale)
        return torch.cat(out)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C_lat, h, w) scaled latents -> (B, 3, h*f, w*f) float32 images clamped to [-1, 1]."""
        if latents.dim() != 4 or latents.shape[1] != self.latent_channels:
            raise ValueError(
                f"expected latents (B, {self.latent_channels}, h, w), got {tuple(latents.shape)}"
            )
        out = [
            self.vae.decode(chunk.to(self.device, self.dtype) / self.scale)
            .sample.float()
            .clamp(-1, 1)
            for chunk in latents.split(self.batch_size)
        ]
        return torch.cat(out).to(latents.device)
