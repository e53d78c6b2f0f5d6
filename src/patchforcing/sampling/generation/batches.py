"""The one generation path: batches of images from a model and a :class:`GenerationConfig`.

``sample``, ``eval``, ``bench quality`` and the training previews all call :func:`generate_batches`,
so an image is the same whichever command made it and whatever the batch size; only one batch of
images exists at a time, so any number of images runs in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import torch

from patchforcing.core.condition import Condition, text_encoder_of
from patchforcing.model import PatchModel
from patchforcing.sampling import (
    Sampler,
    Trace,
    TraceStep,
    labels_for_seeds,
    noise_for_seeds,
    uniform_schedule,
)
from patchforcing.sampling.generation.config import MASK_SEED_OFFSET, GenerationConfig
from patchforcing.sampling.generation.progress import pass_progress
from patchforcing.sampling.generation.recommended import recommended_config
from patchforcing.utils.distributed import DistEnv, rank_range

__all__ = [
    "NO_LABEL",
    "NonFiniteOutputError",
    "GeneratedBatch",
    "generate_batches",
    "generate",
    "batch_labels",
    "batch_conditions",
    "mask_generators",
    "single_image_config",
    "rank_seeds",
]

NO_LABEL = -1  # the class label recorded for an image of a text-to-image model
Decoder = Callable[[torch.Tensor], torch.Tensor]  # model samples (B, C, H, W) -> images in [-1, 1]


class NonFiniteOutputError(ValueError):
    """The model (or the decoder) produced NaN or inf: written out, such images would be black."""


@dataclass(frozen=True)
class GeneratedBatch:
    """One batch of :func:`generate_batches`: images (B, C, H, W) in [-1, 1] on the CPU with
    their labels (B,), seeds, and the sampler, steps and NFE that made them."""

    images: torch.Tensor  # (B, C, H, W) in [-1, 1], decoded, on the CPU
    labels: torch.Tensor  # (B,) class labels; NO_LABEL for the images of a text-to-image model
    seeds: list[int]
    sampler: str
    steps: int  # outer steps
    nfe: int  # NFE the sampler spent on this batch
    images_forwarded: int
    trace: list[TraceStep] = field(default_factory=list)
    prompts: list[str] | None = None  # the prompt of each image (text-to-image models)


def batch_labels(
    config: GenerationConfig,
    seeds: Sequence[int],
    num_classes: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Class labels (B,) of the images with these seeds: from ``config.classes`` (cycled from the
    config's first image) or drawn from each image's seed."""
    if config.classes is None or not num_classes:
        return labels_for_seeds(seeds, num_classes, device)
    if max(config.classes) >= num_classes:
        raise ValueError(
            f"class {max(config.classes)} is out of range: the model has {num_classes} classes"
        )
    return torch.tensor(
        [config.classes[(s - config.seed) % len(config.classes)] for s in seeds], device=device
    )


def batch_conditions(
    model: PatchModel,
    config: GenerationConfig,
    seeds: Sequence[int],
    device: torch.device | str = "cpu",
) -> tuple[Condition, torch.Tensor, list[str] | None]:
    """What the images with these seeds are conditioned on: (condition for the model, class labels
    (B,), prompts). A text-to-image model encodes ``config.prompts`` with its own text encoder (its
    labels are NO_LABEL); a class model takes ``config.classes`` or labels drawn from the seeds."""
    encoder = text_encoder_of(model)
    if encoder is None:
        if config.prompts is not None:
            raise ValueError("this model is class-conditional: give classes, not prompts")
        labels = batch_labels(config, seeds, model.config.num_classes, device)  # (B,)
        return labels, labels, None
    if config.classes is not None:
        raise ValueError("this is a text-to-image model: give prompts, not classes")
    prompts = config.prompts_for(seeds)
    return (
        encoder.encode(prompts, device),
        torch.full((len(prompts),), NO_LABEL, device=device),
        prompts,
    )


def mask_generators(
    seeds: Sequence[int], device: torch.device | str = "cpu"
) -> list[torch.Generator]:
    """One generator per image for samplers that draw random masks (the random-mask control)."""
    return [torch.Generator(device=device).manual_seed(int(s) + MASK_SEED_OFFSET) for s in seeds]


def generate_batches(
    model: PatchModel,
    config: GenerationConfig,
    device: torch.device | str = "cpu",
    decode: Decoder | None = None,
    trace: Trace = False,
    seeds: Sequence[int] | None = None,
) -> Iterator[GeneratedBatch]:
    """Yield the images of ``config`` (or of the subset ``seeds`` of its seeds, e.g. one rank's
    share) batch by batch; with ``config.progress`` a bar on stderr counts the network passes (rate,
    time left) and the images done.

    Args:
        model: a class-conditional or text-to-image model (``load_model``).
        config: sampler, NFE or steps, number of images, seeds, classes or prompts, batch size.
        device: where the model runs; images come back on the CPU.
        decode: latents -> pixels, for a model trained on VAE latents.
        trace: record every network pass (``True``) or call this with each ``TraceStep``.
        seeds: the image seeds to make (default all of ``config``'s).

    Example::

        for batch in generate_batches(model, GenerationConfig(num_images=1000, batch_size=100)):
            batch.images, batch.seeds, batch.nfe  # (100, C, H, W) in [-1, 1], 100 seeds, NFE
    """
    c = model.config
    sampler: Sampler = config.resolved_sampler(c.time_mode)
    sampler.check_model(model)
    config.check_cost(c)
    steps = config.outer_steps(sampler, c.num_patches)
    schedule = uniform_schedule(steps, device)
    todo = list(config.seeds if seeds is None else seeds)
    passes = sampler.nfe(schedule, c.num_patches)  # per batch: the passes of one sampler call
    total = passes * -(-len(todo) // config.batch_size)
    with pass_progress(model, total, sampler.name, config.progress) as bar:  # ends its line
        for done, start in enumerate(range(0, len(todo), config.batch_size), 1):
            batch = todo[start : start + config.batch_size]
            bar.set_postfix_str(f"{start}/{len(todo)} images")
            noise = noise_for_seeds(
                batch, (c.in_channels, c.image_size, c.image_size), device
            )  # (B, C, H, W)
            y, labels, prompts = batch_conditions(model, config, batch, device)
            result = sampler(
                model, noise, y, schedule, config.guidance, mask_generators(batch, device), trace
            )
            images = (
                _finite(decode(result.x) if decode is not None else result.x, model, batch)
                .clamp(-1, 1)
                .cpu()
            )
            bar.update(done * passes - bar.n)  # exact at every batch end, whatever was counted
            bar.set_postfix_str(f"{start + len(batch)}/{len(todo)} images")
            yield GeneratedBatch(
                images,
                labels.cpu(),
                batch,
                sampler.name,
                steps,
                result.nfe,
                result.images_forwarded,
                result.trace,
                prompts,
            )


def _finite(images: torch.Tensor, model: PatchModel, seeds: list[int]) -> torch.Tensor:
    if not bool(torch.isfinite(images).all()):
        source = getattr(model, "source", None) or "the model"
        raise NonFiniteOutputError(
            f"{source} produced non-finite values (NaN or inf) for the images of seeds "
            f"{seeds[0]}..{seeds[-1]}; its weights or these options do not work together"
        )
    return images


def rank_seeds(config: GenerationConfig, env: DistEnv) -> range:
    """Seeds of this rank's images: a disjoint share of ``config.seeds`` cut at batch boundaries, so
    the union over ranks is the single-process set, batch for batch."""
    return rank_range(
        config.num_images, env.rank, env.world_size, block=config.batch_size, start=config.seed
    )


def generate(
    model: PatchModel,
    config: GenerationConfig | None = None,
    device: torch.device | str | None = None,
    decode: Decoder | None = None,
) -> torch.Tensor:
    """All images of ``config`` as one (num_images, C, H, W) tensor in [-1, 1] on the CPU. For many
    images iterate :func:`generate_batches` instead (one batch in memory at a time).

    Args:
        model: a class-conditional or text-to-image model.
        config: what to generate (default: ``recommended_config(model)``, the model's
            recommended sampler, NFE and guidance; the library's defaults where it records none).
        device: where the model runs (default: where its parameters are).
        decode: latents -> pixels, for a model trained on VAE latents.

    Example::

        model = PatchForcingDiT.from_pretrained("fmnist-pf")
        images = generate(model, GenerationConfig(sampler=DualLoop(p=0.4), nfe=32, num_images=8))
        to_pil_images(images)  # 8 PIL images; save_images / save_grid write PNG files
    """
    config = config if config is not None else recommended_config(model)
    device = device if device is not None else next(model.parameters()).device
    c = model.config
    batches = [b.images for b in generate_batches(model, config, device, decode)]
    return (
        torch.cat(batches) if batches else torch.zeros(0, c.in_channels, c.image_size, c.image_size)
    )


def single_image_config(config: GenerationConfig, index: int) -> GenerationConfig:
    """The config that regenerates image ``index`` of ``config`` alone
    (same seed and class or prompt)."""
    classes = None if config.classes is None else (config.classes[index % len(config.classes)],)
    prompts = None if config.prompts is None else (config.prompts[index % len(config.prompts)],)
    return replace(config, seed=config.seed + index, num_images=1, classes=classes, prompts=prompts)
