"""Scoring generated images (from a model, streamed) or a folder of images against reference features.

Generated images are rounded to 8-bit pixels before they are embedded, as when they are written as
PNG files: ``eval`` on a model scores exactly the images ``sample`` writes for the same options and
seeds, and ``eval --folder`` on that output gives the same figures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from patchforcing.data.folder import IMAGE_SUFFIXES, load_image
from patchforcing.distributed import DistEnv, gather_objects
from patchforcing.generation import GenerationConfig, generate_batches, rank_seeds, read_manifest
from patchforcing.io.pixels import from_model_range, to_model_range
from patchforcing.metrics import BackgroundMasks, FeatureExtractor, QualityMetrics, compute_quality
from patchforcing.model import PatchModel

__all__ = ["EvalResult", "evaluate_model", "evaluate_folder", "folder_batches", "as_written"]


@dataclass(frozen=True)
class EvalResult:
    metrics: QualityMetrics
    source: str  # checkpoint or folder scored
    sampler: str | None  # the sampler config, e.g. "DualLoop(p=0.4, n_inner=4, ...)"
    nfe_requested: int | None
    nfe: int | None  # NFE actually spent per image
    steps: int | None
    seeds: tuple[int, int] | None  # first and last image seed
    num_images: int
    features: str  # extractor key
    seconds: float
    background: float | None = None  # mean background pixel value (0-255) of the scored images
    reference_background: float | None = None  # the same of the reference images

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_written(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] rounded to the 8-bit values a PNG stores, back in [-1, 1]."""
    return to_model_range(from_model_range(images))


@dataclass(frozen=True)
class _RankPart:
    """What one rank sends to rank 0."""

    features: torch.Tensor  # (n_rank, D) on the CPU
    nfe: int
    steps: int
    background: tuple[float, int]  # (sum, count) of background pixel values


def _rank_features(model: PatchModel, config: GenerationConfig, extractor: FeatureExtractor, env: DistEnv,
                   device: torch.device | str, background: BackgroundMasks | None) -> _RankPart:
    feats, nfe, steps, total, count = [], 0, 0, 0.0, 0
    for batch in generate_batches(model, config, device, seeds=rank_seeds(config, env)):
        pixels = from_model_range(batch.images)  # (B, C, H, W) uint8, as a PNG holds them
        feats.append(extractor(to_model_range(pixels)).cpu())  # (B, D)
        nfe, steps = max(nfe, batch.nfe), batch.steps
        if background is not None:
            part_sum, part_count = background.sums(pixels, batch.labels)
            total, count = total + part_sum, count + part_count
    return _RankPart(torch.cat(feats) if feats else torch.zeros(0, 0), nfe, steps, (total, count))


def evaluate_model(model: PatchModel, config: GenerationConfig, extractor: FeatureExtractor,
                   reference: torch.Tensor, source: str = "model", device: torch.device | str = "cpu",
                   env: DistEnv = DistEnv(), background: BackgroundMasks | None = None,
                   reference_background: float | None = None) -> EvalResult | None:
    """Generate ``config.num_images`` images batch by batch, embed each batch, then score the features
    (and, with ``background`` masks, the background level). Under several processes each rank makes
    its share of the seeds and rank 0 gathers the features and returns the result (the other ranks
    return None)."""
    start = time.perf_counter()
    gathered = gather_objects(_rank_features(model, config, extractor, env, device, background), env)
    if gathered is None:
        return None
    parts = [part for part in gathered if isinstance(part, _RankPart) and part.features.numel()]
    feats = torch.cat([p.features for p in parts])  # (num_images, D), in seed order
    total, count = sum(p.background[0] for p in parts), sum(p.background[1] for p in parts)
    sampler = config.resolved_sampler(model.config.time_mode)
    return EvalResult(compute_quality(reference, feats), source, repr(sampler), config.nfe, max(p.nfe for p in parts),
                      max(p.steps for p in parts), (config.seed, config.seed + config.num_images - 1),
                      config.num_images, extractor.key, time.perf_counter() - start,
                      total / count if count else None, reference_background)


def _folder_files(folder: Path) -> list[tuple[Path, int | None]]:
    listed = read_manifest(folder)
    if listed is not None:
        return [(path, label) for path, label in listed]
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    return [(path, None) for path in files]


def folder_batches(folder: str | Path, image_size: int, channels: int,
                   batch_size: int = 250) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(uint8 images (B, C, H, W), labels (B,) or None) of the images of ``folder`` (those its
    ``samples.jsonl`` lists, with their classes, when it has one; else every image under it), read a
    batch at a time."""
    files = _folder_files(Path(folder))
    for start in range(0, len(files), batch_size):
        part = files[start: start + batch_size]
        arrays = np.stack([load_image(path, image_size, channels) for path, _ in part])
        labels = [label for _, label in part]
        known = None if any(label is None for label in labels) else torch.tensor(labels)
        yield torch.from_numpy(arrays), known


def evaluate_folder(folder: str | Path, extractor: FeatureExtractor, reference: torch.Tensor, image_size: int,
                    channels: int, background: BackgroundMasks | None = None,
                    reference_background: float | None = None) -> EvalResult:
    """Score a folder's images; the background level needs their classes (a sample manifest)."""
    start = time.perf_counter()
    feats, total, count, labelled = [], 0.0, 0, True
    for pixels, labels in folder_batches(folder, image_size, channels):
        feats.append(extractor(to_model_range(pixels)))
        labelled = labelled and labels is not None
        if background is not None and labels is not None:
            part_sum, part_count = background.sums(pixels, labels)
            total, count = total + part_sum, count + part_count
    fake = torch.cat(feats)
    level = total / count if count and labelled else None
    return EvalResult(compute_quality(reference, fake), str(folder), None, None, None, None, None, fake.shape[0],
                      extractor.key, time.perf_counter() - start, level, reference_background)
