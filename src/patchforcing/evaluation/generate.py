"""Generation as a stream of batches: image i uses seed ``seed + i`` for its noise and class, so any
image of an evaluation can be regenerated alone; only one batch of images exists at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from patchforcing.sampling import SAMPLERS, Guidance, Sampler, labels_for_seeds, noise_for_seeds, uniform_schedule

__all__ = ["GenerationConfig", "GeneratedBatch", "build_sampler", "generate_batches"]


def build_sampler(name: str) -> Sampler:
    """A sampler config by its registry name, with the paper's default options."""
    if name not in SAMPLERS or name == "matrix":
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(set(SAMPLERS) - {'matrix'})}")
    return SAMPLERS[name]()


@dataclass(frozen=True)
class GenerationConfig:
    """``nfe`` is a budget: each sampler gets the uniform outer steps whose NFE is closest to it."""

    sampler: str = "euler-pf"
    nfe: int = 32
    num_images: int = 1000
    seed: int = 0
    batch_size: int = 250
    cfg: float = 1.0

    def __post_init__(self) -> None:
        build_sampler(self.sampler)
        if min(self.nfe, self.num_images, self.batch_size) < 1 or self.seed < 0:
            raise ValueError(f"nfe, num_images and batch_size must be >= 1 and seed >= 0, got {self}")

    @property
    def seeds(self) -> range:
        return range(self.seed, self.seed + self.num_images)


@dataclass(frozen=True)
class GeneratedBatch:
    images: torch.Tensor  # (B, C, H, W) in [-1, 1], on the CPU
    labels: torch.Tensor  # (B,)
    seeds: list[int]
    nfe: int  # NFE the sampler spent on this batch
    images_forwarded: int


def generate_batches(model: nn.Module, config: GenerationConfig,
                     device: torch.device | str = "cpu") -> Iterator[GeneratedBatch]:
    """Yield the generated images batch by batch (the random-mask control draws its masks from a
    generator seeded by the batch's first image seed, so batches are reproducible too)."""
    c = model.config
    sampler = build_sampler(config.sampler)
    sampler.check_model(model)
    schedule = uniform_schedule(sampler.budget(config.nfe).steps, device)
    guidance = Guidance(scale=config.cfg)
    seeds = list(config.seeds)
    for start in range(0, len(seeds), config.batch_size):
        batch = seeds[start: start + config.batch_size]
        noise = noise_for_seeds(batch, (c.in_channels, c.image_size, c.image_size), device)  # (B, C, H, W)
        y = labels_for_seeds(batch, c.num_classes, device)  # (B,)
        generator = torch.Generator(device=device).manual_seed(batch[0])
        result = sampler(model, noise, y, schedule, guidance, generator)
        yield GeneratedBatch(result.x.clamp(-1, 1).cpu(), y.cpu(), batch, result.nfe, result.images_forwarded)
