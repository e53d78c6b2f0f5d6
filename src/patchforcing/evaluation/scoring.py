"""Streaming images into feature spaces: generated batch by batch by a model, or read from a folder.

These are the mechanics under :class:`~patchforcing.evaluation.evaluator.Evaluator`, which owns
what the images are scored against; call it rather than these. Generated images are rounded to
8-bit pixels before they are embedded, as when they are written as PNG files: scoring a model
scores exactly the images ``sample`` writes for the same options and seeds, and scoring that
output folder gives the same figures. Every batch is embedded in every feature space; each space is
scored against its own reference features.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from patchforcing.data.folder import IMAGE_SUFFIXES, load_image
from patchforcing.evaluation.metrics import BackgroundMasks, FeatureExtractor, compute_quality
from patchforcing.evaluation.metrics.alignment import AlignmentPart
from patchforcing.evaluation.prompt_scoring import PromptScoring
from patchforcing.evaluation.result import EvalResult, FeatureScores
from patchforcing.model import PatchModel
from patchforcing.sampling.generation import (
    GenerationConfig,
    generate_batches,
    rank_seeds,
    read_manifest,
)
from patchforcing.sampling.generation.progress import stage
from patchforcing.utils.distributed import DistEnv, gather_objects
from patchforcing.utils.io.pixels import from_model_range, to_model_range

__all__ = ["FeatureSpace", "folder_batches", "score_generated", "score_image_folder"]


@dataclass(frozen=True, eq=False)
class FeatureSpace:
    """One feature space: its network and the features of the reference images in it."""

    name: str  # as given: a shipped classifier name, a classifier folder, or "inception"
    extractor: FeatureExtractor
    reference: torch.Tensor  # (M, D) features of the reference images

    @property
    def key(self) -> str:
        """The extractor's key (its weights' digest), under which results and caches file it."""
        return self.extractor.key


def _scores(spaces: Sequence[FeatureSpace], feats: list[torch.Tensor]) -> tuple[FeatureScores, ...]:
    return tuple(
        FeatureScores(s.key, compute_quality(s.reference, f)) for s, f in zip(spaces, feats)
    )


@dataclass(frozen=True)
class _RankPart:
    """What one rank sends to rank 0."""

    features: tuple[torch.Tensor, ...]  # per feature space (n_rank, D) on the CPU
    nfe: int
    steps: int
    background: tuple[float, int]  # (sum, count) of distances from the background colour
    alignment: AlignmentPart | None  # this rank's prompt-alignment scores


def _rank_features(
    model: PatchModel,
    config: GenerationConfig,
    spaces: Sequence[FeatureSpace],
    env: DistEnv,
    background: BackgroundMasks | None,
    alignment: PromptScoring | None,
) -> _RankPart:
    feats: list[list[torch.Tensor]] = [[] for _ in spaces]
    nfe, steps, total, count = 0, 0, 0.0, 0
    for batch in generate_batches(model, config, env.device, seeds=rank_seeds(config, env)):
        pixels = from_model_range(batch.images)  # (B, C, H, W) uint8, as a PNG holds them
        for space, part in zip(spaces, feats):
            part.append(space.extractor(to_model_range(pixels)).cpu())  # (B, D)
        if alignment is not None:
            alignment.update(to_model_range(pixels), config, batch.seeds, batch.prompts)
        nfe, steps = max(nfe, batch.nfe), batch.steps
        if background is not None:
            part_sum, part_count = background.sums(pixels, batch.labels)
            total, count = total + part_sum, count + part_count
    empty = torch.zeros(0, 0)
    return _RankPart(
        tuple(torch.cat(f) if f else empty for f in feats),
        nfe,
        steps,
        (total, count),
        None if alignment is None else alignment.scores.part(),
    )


def score_generated(
    model: PatchModel,
    config: GenerationConfig,
    spaces: Sequence[FeatureSpace],
    *,
    env: DistEnv = DistEnv(),
    background: BackgroundMasks | None = None,
    reference_background: float | None = None,
    alignment: PromptScoring | None = None,
    source: str = "model",
) -> EvalResult | None:
    """Generate ``config.num_images`` images on ``env.device`` batch by batch and score them in
    every space (with ``background`` masks, their background level; with ``alignment``, how well
    they match their prompts). Each rank makes its share of the seeds; rank 0 gathers the features
    and alignment scores and returns the result, the other ranks return None."""
    start = time.perf_counter()
    if not spaces:
        raise ValueError("need at least one feature space")
    part = _rank_features(model, config, spaces, env, background, alignment)
    gathered = gather_objects(part, env)
    if gathered is None:
        return None
    if alignment is not None:
        for other in gathered[1:]:  # rank 0's own images are in its accumulator already
            assert other.alignment is not None
            alignment.scores.merge(other.alignment)
    parts = [p for p in gathered if p.features[0].numel()]
    # (num_images, D) per space
    feats = [torch.cat([p.features[k] for p in parts]) for k in range(len(spaces))]
    stage(
        f"scoring {feats[0].shape[0]} images in {len(spaces)} feature space(s): FD, KID, "
        "precision / recall, density / coverage",
        config.progress,
    )
    total, count = sum(p.background[0] for p in parts), sum(p.background[1] for p in parts)
    sampler = config.resolved_sampler(model.config.time_mode)
    return EvalResult(
        _scores(spaces, feats),
        source,
        repr(sampler),
        config.nfe,
        max(p.nfe for p in parts),
        max(p.steps for p in parts),
        (config.seed, config.seed + config.num_images - 1),
        config.num_images,
        time.perf_counter() - start,
        total / count if count else None,
        reference_background,
        alignment.scores.compute() if alignment is not None else None,
    )


def _folder_files(folder: Path) -> list[tuple[Path, int | None]]:
    listed = read_manifest(folder)
    if listed is not None:
        return [(path, label) for path, label in listed]
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    return [(path, None) for path in files]


def folder_batches(
    folder: str | Path, image_size: int, channels: int, batch_size: int = 250
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(uint8 images (B, C, H, W), labels (B,) or None) of the images of ``folder`` (those its
    ``samples.jsonl`` lists, with their classes, when it has one; else every image under it), read a
    batch at a time."""
    files = _folder_files(Path(folder))
    for start in range(0, len(files), batch_size):
        part = files[start : start + batch_size]
        arrays = np.stack([load_image(path, image_size, channels) for path, _ in part])
        labels = [label for _, label in part]
        known = None if any(label is None for label in labels) else torch.tensor(labels)
        yield torch.from_numpy(arrays), known


def score_image_folder(
    folder: str | Path,
    spaces: Sequence[FeatureSpace],
    image_size: int,
    channels: int,
    *,
    background: BackgroundMasks | None = None,
    reference_background: float | None = None,
) -> EvalResult:
    """Score a folder's images, read at ``image_size`` and ``channels``, in every space; the
    background level needs their classes (a sample manifest)."""
    start = time.perf_counter()
    if not spaces:
        raise ValueError("need at least one feature space")
    feats: list[list[torch.Tensor]] = [[] for _ in spaces]
    total, count, labelled = 0.0, 0, True
    for pixels, labels in folder_batches(folder, image_size, channels):
        for space, part in zip(spaces, feats):
            part.append(space.extractor(to_model_range(pixels)))  # (B, D)
        labelled = labelled and labels is not None
        if background is not None and labels is not None:
            part_sum, part_count = background.sums(pixels, labels)
            total, count = total + part_sum, count + part_count
    fakes = [torch.cat(part) for part in feats]  # (num_images, D) each
    level = total / count if count and labelled else None
    return EvalResult(
        _scores(spaces, fakes),
        str(folder),
        None,
        None,
        None,
        None,
        None,
        fakes[0].shape[0],
        time.perf_counter() - start,
        level,
        reference_background,
    )
