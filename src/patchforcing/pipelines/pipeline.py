"""``PatchForcingPipeline``: our samplers behind diffusers' ``DiffusionPipeline`` interface.

The pipeline holds a ``transformer`` (:mod:`patchforcing.pipelines.models`) and a ``scheduler``
(:class:`~patchforcing.pipelines.scheduler.PatchForcingEulerScheduler`, whose grid is the schedule
every sampler follows). A call builds the same :class:`~patchforcing.sampling.generation.
GenerationConfig` as ``patchforcing sample`` and runs the same sampler on the held model, so with
the same noise the images are the same bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers.pipelines.pipeline_utils import DiffusionPipeline
from diffusers.utils import BaseOutput

from patchforcing.pipelines.loader import is_own_loader, mark_loadable
from patchforcing.pipelines.models import PatchForcingDiTModel, PatchForcingT2IModel
from patchforcing.pipelines.scheduler import PatchForcingEulerScheduler
from patchforcing.sampling import SAMPLERS, Guidance, Sampler
from patchforcing.sampling.generation import (
    GenerationConfig,
    batch_conditions,
    fill_recommended,
)
from patchforcing.utils.io.images import to_pil

__all__ = ["PatchForcingPipeline", "PatchForcingPipelineOutput", "OUTPUT_TYPES", "draw_noise"]

OUTPUT_TYPES = ("pil", "np", "pt")  # PIL images, (B, H, W, C) floats in [0, 1], (B, C, H, W) ditto
Generators = torch.Generator | Sequence[torch.Generator]


@dataclass
class PatchForcingPipelineOutput(BaseOutput):
    """What a pipeline call returns: the images and the compute the sampler spent."""

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    nfe: int  # network evaluations the sampler spent (a guided pass counts once)
    steps: int  # outer steps of the schedule
    sampler: str


def draw_noise(shape: tuple[int, ...], count: int, generator: Generators | None) -> torch.Tensor:
    """Standard normal noise (count, *shape) drawn on the CPU: image i from ``generator[i]`` when a
    list is given (so ``torch.Generator().manual_seed(seed + i)`` gives the noise ``patchforcing
    sample --seed seed`` uses), else the whole batch from one generator."""
    if isinstance(generator, Sequence):
        if len(generator) != count:
            raise ValueError(f"got {len(generator)} generators for {count} images")
        return torch.stack([torch.randn(shape, generator=g) for g in generator])
    return torch.randn((count, *shape), generator=generator)


class PatchForcingPipeline(DiffusionPipeline):
    """Class-conditional (``class_labels``) or text-to-image (``prompt``) generation with any of
    our samplers; the output reports the NFE spent."""

    model_cpu_offload_seq = "transformer"  # type: ignore[assignment]  # diffusers: None

    def __init__(
        self,
        transformer: PatchForcingDiTModel | PatchForcingT2IModel,
        scheduler: PatchForcingEulerScheduler,
    ) -> None:
        super().__init__()
        self.register_modules(transformer=transformer, scheduler=scheduler)

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        """Diffusers' pipeline folder, plus the module file that lets ``DiffusionPipeline``
        load it (:mod:`patchforcing.pipelines.loader`)."""
        super().save_pretrained(save_directory, *args, **kwargs)
        mark_loadable(Path(save_directory))

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any
    ) -> PatchForcingPipeline:
        """Diffusers' loading; a local folder written by :meth:`save_pretrained` needs no
        ``trust_remote_code`` (its loader file only imports this class)."""
        if is_own_loader(Path(pretrained_model_name_or_path)):
            kwargs.setdefault("trust_remote_code", True)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    def _sampler(self, sampler: str | Sampler | None, options: dict[str, Any]) -> Sampler | None:
        if sampler is None or isinstance(sampler, Sampler):
            if options:
                raise ValueError("sampler_options need a sampler given by name")
            return sampler
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLERS)}")
        return SAMPLERS[sampler](**options)

    @torch.no_grad()
    def __call__(
        self,
        class_labels: Sequence[int] | None = None,
        prompt: str | Sequence[str] | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: Generators | None = None,
        latents: torch.Tensor | None = None,
        sampler: str | Sampler | None = None,
        sampler_options: dict[str, Any] | None = None,
        nfe: int | None = None,
        output_type: str = "pil",
    ) -> PatchForcingPipelineOutput:
        """One image per class label or prompt. The cost is ``num_inference_steps`` outer steps
        or an ``nfe`` budget; ``sampler`` a name of :data:`~patchforcing.sampling.SAMPLERS` with
        ``sampler_options`` (e.g. ``sampler="look-ahead", sampler_options={"p": 0.4}``) or a
        sampler config. ``latents`` (B, C, H, W) replaces the noise drawn from ``generator``;
        ``guidance_scale`` 1 is no guidance.

        What is left at None is the model's recommended setting (``transformer.
        recommended_sampling``: sampler, NFE, guidance scale, and always its guidance interval),
        as diffusers' pipelines default to guidance; where the model records none, the library's
        defaults: Euler-PF (Euler for a global-time model), 50 steps, no guidance."""
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        model = self.transformer.model
        if self.transformer.data.space != "pixels":
            raise ValueError(
                "this pipeline decodes pixel-space models only; use patchforcing sample"
            )
        prompts = (
            (prompt,) if isinstance(prompt, str) else None if prompt is None else tuple(prompt)
        )
        classes = None if class_labels is None else tuple(int(c) for c in class_labels)
        count = len(prompts or classes or ())
        if not count:
            raise ValueError("give class_labels (class models) or prompt (text-to-image models)")
        config = GenerationConfig(
            sampler=self._sampler(sampler, dict(sampler_options or {})),
            steps=num_inference_steps,
            nfe=nfe,
            guidance=Guidance() if guidance_scale is None else Guidance(scale=guidance_scale),
            num_images=count,
            classes=classes,
            prompts=prompts,
            batch_size=count,
        )
        unset = {
            "sampler": sampler is None,
            "cost": num_inference_steps is None and nfe is None,
            "guidance_scale": guidance_scale is None,
            "guidance_interval": True,  # the pipeline takes no interval
        }
        config = fill_recommended(
            config, self.transformer.recommended_sampling, [k for k, v in unset.items() if v]
        ).config
        c, device = model.config, self._execution_device
        chosen = config.resolved_sampler(c.time_mode)
        chosen.check_model(model)
        self.scheduler.set_timesteps(config.outer_steps(chosen, c.num_patches), device)
        shape = (c.in_channels, c.image_size, c.image_size)
        noise = latents if latents is not None else draw_noise(shape, count, generator)
        if tuple(noise.shape) != (count, *shape):
            raise ValueError(f"latents must be {(count, *shape)}, got {tuple(noise.shape)}")
        y, _, _ = batch_conditions(model, config, config.seeds, device)
        noise = noise.to(device=device, dtype=next(model.parameters()).dtype)
        result = chosen(model, noise, y, self.scheduler.schedule, config.guidance, generator)
        images = result.x.clamp(-1, 1).cpu()  # (B, C, H, W) in [-1, 1], as patchforcing sample
        self.maybe_free_model_hooks()
        return PatchForcingPipelineOutput(
            images=_convert(images, output_type),
            nfe=result.nfe,
            steps=len(self.scheduler),
            sampler=chosen.name,
        )


def _convert(
    images: torch.Tensor, output_type: str
) -> list[PIL.Image.Image] | np.ndarray | torch.Tensor:
    """Images (B, C, H, W) in [-1, 1] -> diffusers' output types (floats in [0, 1])."""
    if output_type == "pil":
        return [to_pil(image) for image in images]  # the pixels patchforcing sample writes
    unit = (images.float() + 1) / 2  # (B, C, H, W) in [0, 1]
    return unit if output_type == "pt" else unit.permute(0, 2, 3, 1).numpy()
