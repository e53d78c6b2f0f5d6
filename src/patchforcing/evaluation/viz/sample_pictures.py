"""The pictures ``patchforcing sample`` writes into a sample folder besides its images: denoising
traces of the first images, and a comparison of samplers at equal NFE from the same noise (written
instead of the images, into a folder of the same kind; see
:mod:`patchforcing.sampling.generation.folder`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from patchforcing.evaluation.viz.compare import save_compare_grid
from patchforcing.evaluation.viz.trace import save_trace
from patchforcing.model import PatchModel
from patchforcing.sampling import Sampler
from patchforcing.sampling.generation import GenerationConfig, generate_batches, rank_seeds
from patchforcing.sampling.generation.batches import Decoder
from patchforcing.sampling.generation.folder import COMPARE_FILE, prepare_sample_folder
from patchforcing.utils.distributed import DistEnv

__all__ = ["COMPARE_IMAGES", "ComparedSampler", "Comparison", "write_trace", "write_comparison"]

COMPARE_IMAGES = 100  # a comparison shows every image of every sampler in one picture


@dataclass(frozen=True)
class ComparedSampler:
    """One row of a comparison; under several processes, of this rank's share of the images."""

    name: str
    steps: int  # outer steps (0 when this rank made no image)
    nfe: int  # NFE spent per image
    count: int  # images this rank made
    seconds: float
    trace: tuple[Path, ...]  # trace files written into <out>/<name>/trace


@dataclass(frozen=True)
class Comparison:
    path: Path  # the picture, one labelled row per sampler
    samplers: tuple[ComparedSampler, ...]


def write_trace(
    model: PatchModel,
    config: GenerationConfig,
    folder: str | Path,
    count: int,
    *,
    decode: Decoder | None = None,
    device: torch.device | str = "cpu",
) -> list[Path]:
    """A GIF and a still PNG of the denoising of each of the first ``count`` images of ``config``
    (regenerated from their seeds, so they are the images written)."""
    first = replace(config, num_images=min(count, config.num_images), progress=False)
    result = next(generate_batches(model, first, device, decode, trace=True))
    return save_trace(result.trace, folder, list(range(first.num_images)))


def write_comparison(
    model: PatchModel,
    config: GenerationConfig,
    samplers: Mapping[str, Sampler],
    out: str | Path,
    *,
    decode: Decoder | None = None,
    env: DistEnv = DistEnv(),
    overwrite: bool = False,
    trace: int = 0,
) -> Comparison:
    """Generate the images of ``config`` with every sampler from the same noise (this rank's share
    of the seeds) and write them as ``compare.png`` in ``out``, with a trace of the first ``trace``
    images of each sampler in ``out/<name>/trace``."""
    if config.num_images > COMPARE_IMAGES:
        raise ValueError(
            f"a comparison shows every image in one picture: use at most "
            f"{COMPARE_IMAGES} images (--num)"
        )
    out = Path(out)
    prepare_sample_folder(out, overwrite, env)
    seeds = rank_seeds(config, env)
    rows: list[tuple[str, torch.Tensor]] = []
    done: list[ComparedSampler] = []
    for name, sampler in samplers.items():
        one = replace(config, sampler=sampler)
        start, spent, steps = time.perf_counter(), 0, 0
        shown: list[torch.Tensor] = []  # the first batches, for the picture
        for batch in generate_batches(model, one, env.device, decode, seeds=seeds):
            spent, steps = batch.nfe, batch.steps
            if len(shown) * one.batch_size < COMPARE_IMAGES:
                shown.append(batch.images)
        seconds = time.perf_counter() - start
        traced = []
        if trace and len(seeds):
            traced = write_trace(
                model, one, out / name / "trace", trace, decode=decode, device=env.device
            )
        done.append(ComparedSampler(name, steps, spent, len(seeds), seconds, tuple(traced)))
        rows.append((f"{name} NFE {spent}", torch.cat(shown) if shown else torch.zeros(0)))
    return Comparison(save_compare_grid(rows, out / COMPARE_FILE), tuple(done))
