"""Writing a sample folder: the images of a :class:`GenerationConfig` as PNG files, and their list.

The layout, which ``eval --folder`` and :func:`~patchforcing.sampling.generation.read_manifest`
read::

    images/seed000004_class3.png   one PNG per image: its seed, then its class (or prompt's slug)
    samples.jsonl                  one record per image, sorted by seed (see manifest.py)
    grid.png                       a contact sheet of the first GRID_IMAGES images

Images are generated and written batch by batch (each file atomically), so any number of images
fits in bounded memory. A destination is a new or empty folder, or an earlier sample folder: one of
the same request is resumed (only its missing images are made), another one is replaced only with
``overwrite``, which deletes only the files the package wrote (resume.py). Under several
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
from patchforcing.sampling.generation.resume import (
    JOURNAL_PATTERN,
    REQUEST,
    append_journal,
    clear_images,
    journal_name,
    read_request,
    remove_journals,
    sample_request,
    write_request,
    written_records,
)
from patchforcing.utils.distributed import DistEnv
from patchforcing.utils.io.destination import (
    OutputKind,
    check_output_folder,
    clear_output_folder,
    names,
)
from patchforcing.utils.io.images import load_png, save_grid, save_images
from patchforcing.utils.io.pixels import to_model_range

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
    (MANIFEST, COMPARE_FILE, REQUEST),
    names(
        MANIFEST,
        REQUEST,
        IMAGES,
        "grid.png",
        COMPARE_FILE,
        "trace",
        *SAMPLERS,
        patterns=(r"grid_rank\d+\.png", JOURNAL_PATTERN),
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
    resumed: int = 0  # images of this rank that an earlier, interrupted run had already written
    kept: tuple[Path, ...] = ()  # files in images/ the package did not write, left by a replace


def check_sample_folder(out: str | Path, overwrite: bool = False) -> bool:
    """Refuse a destination that is not new, empty or an earlier sample folder; True when an earlier
    one is to be replaced (``overwrite``). An earlier one without ``overwrite`` passes: writing
    resumes it when it was made by the same request, and refuses otherwise. Checks only: call it
    before any work, :func:`prepare_sample_folder` clears."""
    return check_output_folder(Path(out), SAMPLE_FOLDER, overwrite, resumable=True)


def _refuse_another(out: Path, request: dict | None) -> None:
    """Without ``overwrite``, an earlier sample folder is only resumed by the request that made
    it."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    recorded = read_request(out)
    if request is not None and recorded == request:
        return
    differs = (
        ", ".join(k for k in request if recorded.get(k) != request[k])
        if request is not None and recorded is not None
        else ""
    )
    raise ValueError(
        f"the destination {out} already holds a sample folder"
        + (f" made with other options ({differs})" if differs else "")
        + "; pass overwrite (--overwrite) to replace it, or choose another folder"
    )


def prepare_sample_folder(
    out: str | Path,
    overwrite: bool = False,
    env: DistEnv = DistEnv(),
    request: dict | None = None,
) -> tuple[Path, ...]:
    """Check the destination; remove an earlier sample folder there with ``overwrite`` (returns the
    files of a user left in its images/), or keep one of the same ``request`` to resume. Every rank
    checks before rank 0 clears, and no rank writes before it is cleared."""
    out = Path(out)
    replacing = check_sample_folder(out, overwrite)
    if not overwrite:
        _refuse_another(out, request)
    if env.distributed:
        dist.barrier()
    kept: list[Path] = []
    if replacing and env.is_main:
        kept = clear_images(out)
        clear_output_folder(out, SAMPLE_FOLDER, keep=(IMAGES,) if kept else ())
    if request is not None and env.is_main and read_request(out) != request:
        write_request(out, request)
    if env.distributed:
        dist.barrier()
    return tuple(kept)


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
    kept = prepare_sample_folder(
        out, overwrite, env, sample_request(model, config, decode is not None)
    )
    seeds = rank_seeds(config, env)
    done = {s: r for s, r in written_records(out).items() if s in seeds}
    start, records = time.perf_counter(), list(done.values())
    resolved = config.resolved_sampler(model.config.time_mode)
    sampler, steps = resolved.name, config.outer_steps(resolved, model.config.num_patches)
    spent = next(iter(done.values())).nfe if done else 0
    journal = out / journal_name(env.rank)
    todo = [s for s in seeds if s not in done]
    for batch in generate_batches(model, config, env.device, decode, seeds=todo):
        spent = batch.nfe
        texts: list[str | None] = [*batch.prompts] if batch.prompts else [None] * len(batch.seeds)
        files = [
            image_name(s, int(label), text)
            for s, label, text in zip(batch.seeds, batch.labels, texts)
        ]
        made = [
            ImageRecord(s, int(label), f"{IMAGES}/{f}.png", batch.nfe, text)
            for s, label, text, f in zip(batch.seeds, batch.labels, texts, files)
        ]
        append_journal(journal, made)  # listed first: an interrupted write is still ours
        save_images(batch.images, out / IMAGES, files)
        records += made
    seconds = time.perf_counter() - start
    merged = merge_records(records, env, out / MANIFEST)
    if env.is_main:
        remove_journals(out)
    grid = None
    if len(seeds):
        grid = out / f"grid{'' if env.is_main else f'_rank{env.rank}'}.png"
        by_seed = {r.seed: r for r in records}
        shown = [_read_image(out / by_seed[s].file) for s in seeds[:GRID_IMAGES]]
        save_grid(torch.stack(shown), grid, nrow=nrow, scale=2)
    return SampleFolder(
        out,
        sampler,
        steps,
        spent,
        len(seeds),
        seconds,
        grid,
        None if merged is None else tuple(merged),
        len(done),
        kept,
    )


def _read_image(path: Path) -> torch.Tensor:
    """A written PNG back in the model range (C, H, W): the contact sheet shows the files as they
    are, whichever run wrote them."""
    pixels = torch.from_numpy(load_png(path).copy())  # (H, W) or (H, W, C) uint8
    return to_model_range(pixels[None] if pixels.dim() == 2 else pixels.permute(2, 0, 1))
