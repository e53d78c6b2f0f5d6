"""Writing a sample folder: the images of a :class:`GenerationConfig` as PNG files, and their list.

The layout, which ``eval --folder`` and :func:`~patchforcing.sampling.generation.read_manifest`
read::

    images/seed000004_class3.png   one PNG per image: its seed, then its class (or prompt's slug)
    samples.jsonl                  one record per image, sorted by seed (see manifest.py)
    grid.png                       a contact sheet of the first GRID_IMAGES images

Images are generated and written batch by batch (each file atomically), so any number of images
fits in bounded memory. A destination is a new or empty folder, or an earlier sample folder,
replaced only with ``overwrite`` (:mod:`patchforcing.utils.io.destination`). Under several
processes each rank writes its share of the seeds and its own contact sheet (``grid_rank<r>.png``
on the ranks other than 0); rank 0 merges the manifest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from patchforcing.model import PatchModel
from patchforcing.sampling import SAMPLERS
from patchforcing.sampling.generation.batches import Decoder, generate_batches, rank_seeds
from patchforcing.sampling.generation.config import GenerationConfig
from patchforcing.sampling.generation.manifest import MANIFEST, ImageRecord, merge_records
from patchforcing.sampling.generation.prompts import prompt_slug
from patchforcing.utils.distributed import DistEnv
from patchforcing.utils.io.destination import (
    OutputKind,
    check_output_folder,
    clear_output_folder,
    names,
)
from patchforcing.utils.io.images import save_grid, save_images

__all__ = [
    "GRID_IMAGES",
    "IMAGES",
    "COMPARE_FILE",
    "SAMPLE_FOLDER",
    "SampleFolder",
    "check_sample_folder",
    "prepare_sample_folder",
    "write_sample_folder",
    "image_name",
]

GRID_IMAGES = 100  # the contact sheet shows at most this many images
IMAGES = "images"
COMPARE_FILE = "compare.png"  # a sampler comparison written into the same kind of folder
# what a sample folder holds; samples.jsonl (or compare.png) marks a folder as one. Traces go to
# trace/, or to <sampler>/trace/ in a comparison
SAMPLE_FOLDER = OutputKind(
    "a sample folder",
    (MANIFEST, COMPARE_FILE),
    names(
        MANIFEST,
        IMAGES,
        "grid.png",
        COMPARE_FILE,
        "trace",
        *SAMPLERS,
        patterns=(r"grid_rank\d+\.png",),
    ),
)


@dataclass(frozen=True)
class SampleFolder:
    """What :func:`write_sample_folder` wrote; under several processes, this rank's share of it."""

    path: Path
    sampler: str  # the sampler's name
    steps: int  # outer steps (0 when this rank made no image)
    nfe: int  # NFE spent per image
    count: int  # images this rank wrote
    seconds: float  # this rank's wall time
    grid: Path | None  # this rank's contact sheet (None when it made no image)
    manifest: tuple[ImageRecord, ...] | None  # every image of the folder, by seed (None off rank 0)


def check_sample_folder(out: str | Path, overwrite: bool = False) -> bool:
    """Refuse a destination that is not new, empty or an earlier sample folder (and an earlier one
    without ``overwrite``); True when an earlier one is to be replaced. Checks only: call it before
    any work, :func:`prepare_sample_folder` clears."""
    return check_output_folder(Path(out), SAMPLE_FOLDER, overwrite)


def prepare_sample_folder(
    out: str | Path, overwrite: bool = False, env: DistEnv = DistEnv()
) -> None:
    """Check the destination and remove an earlier sample folder there: every rank checks it before
    rank 0 clears it, and no rank writes before it is cleared."""
    replacing = check_sample_folder(out, overwrite)
    if env.distributed:
        dist.barrier()
    if replacing and env.is_main:
        clear_output_folder(Path(out), SAMPLE_FOLDER)
    if env.distributed:
        dist.barrier()


def image_name(seed: int, label: int, prompt: str | None) -> str:
    """The file name (without suffix) of an image: its seed, then its class or its prompt's slug."""
    return f"seed{seed:06d}_" + (prompt_slug(prompt) if prompt else f"class{label}")


def write_sample_folder(
    model: PatchModel,
    config: GenerationConfig,
    out: str | Path,
    *,
    decode: Decoder | None = None,
    env: DistEnv = DistEnv(),
    overwrite: bool = False,
    nrow: int = 10,
) -> SampleFolder:
    """Generate the images of ``config`` on ``env.device`` (this rank's share of the seeds), write
    each batch as PNG files before the next is made, then the manifest and a contact sheet of
    ``nrow`` images a row. ``decode`` turns a latent model's samples into images."""
    out = Path(out)
    prepare_sample_folder(out, overwrite, env)
    seeds = rank_seeds(config, env)
    start, records = time.perf_counter(), []
    shown: list[torch.Tensor] = []  # the first batches, for the contact sheet
    spent = steps = 0
    sampler = config.resolved_sampler(model.config.time_mode).name
    for batch in generate_batches(model, config, env.device, decode, seeds=seeds):
        spent, steps = batch.nfe, batch.steps
        if len(shown) * config.batch_size < GRID_IMAGES:
            shown.append(batch.images)
        texts: list[str | None] = [*batch.prompts] if batch.prompts else [None] * len(batch.seeds)
        files = [
            image_name(s, int(label), text)
            for s, label, text in zip(batch.seeds, batch.labels, texts)
        ]
        save_images(batch.images, out / IMAGES, files)
        records += [
            ImageRecord(s, int(label), f"{IMAGES}/{f}.png", batch.nfe, text)
            for s, label, text, f in zip(batch.seeds, batch.labels, texts, files)
        ]
    seconds = time.perf_counter() - start
    merged = merge_records(records, env, out / MANIFEST)
    grid = None
    if len(seeds):
        grid = out / f"grid{'' if env.is_main else f'_rank{env.rank}'}.png"
        save_grid(torch.cat(shown)[:GRID_IMAGES], grid, nrow=nrow, scale=2)
    return SampleFolder(
        out,
        sampler,
        steps,
        spent,
        len(seeds),
        seconds,
        grid,
        None if merged is None else tuple(merged),
    )
