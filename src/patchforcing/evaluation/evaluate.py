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
from patchforcing.metrics import FeatureExtractor, QualityMetrics, compute_quality
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_written(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] rounded to the 8-bit values a PNG stores, back in [-1, 1]."""
    return to_model_range(from_model_range(images))


def _rank_features(model: PatchModel, config: GenerationConfig, extractor: FeatureExtractor, env: DistEnv,
                   device: torch.device | str) -> tuple[torch.Tensor, int, int]:
    """(features (n_rank, D) on the CPU, NFE per image, outer steps) of this rank's images."""
    feats, nfe, steps = [], 0, 0
    for batch in generate_batches(model, config, device, seeds=rank_seeds(config, env)):
        feats.append(extractor(as_written(batch.images)).cpu())  # (B, D)
        nfe, steps = max(nfe, batch.nfe), batch.steps
    return (torch.cat(feats) if feats else torch.zeros(0, 0)), nfe, steps


def evaluate_model(model: PatchModel, config: GenerationConfig, extractor: FeatureExtractor,
                   reference: torch.Tensor, source: str = "model", device: torch.device | str = "cpu",
                   env: DistEnv = DistEnv()) -> EvalResult | None:
    """Generate ``config.num_images`` images batch by batch, embed each batch, then score the features.
    Under several processes each rank makes its share of the seeds and rank 0 gathers the features
    and returns the result (the other ranks return None)."""
    start = time.perf_counter()
    gathered = gather_objects(_rank_features(model, config, extractor, env, device), env)
    if gathered is None:
        return None
    parts = [part for part in gathered if part[0].numel()]
    feats = torch.cat([f for f, _, _ in parts])  # (num_images, D), in seed order
    nfe, steps = max(n for _, n, _ in parts), max(s for _, _, s in parts)
    sampler = config.resolved_sampler(model.config.time_mode)
    return EvalResult(compute_quality(reference, feats), source, repr(sampler), config.nfe, nfe, steps,
                      (config.seed, config.seed + config.num_images - 1), config.num_images, extractor.key,
                      time.perf_counter() - start)


def _folder_files(folder: Path) -> list[Path]:
    listed = read_manifest(folder)
    if listed is not None:
        return listed
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    return files


def folder_batches(folder: str | Path, image_size: int, channels: int, batch_size: int = 250) -> Iterator[torch.Tensor]:
    """Model-range batches (B, C, H, W) of the images of ``folder`` (those its ``samples.jsonl``
    lists when it has one, else every image under it), read a batch at a time."""
    files = _folder_files(Path(folder))
    for start in range(0, len(files), batch_size):
        arrays = np.stack([load_image(p, image_size, channels) for p in files[start: start + batch_size]])
        yield to_model_range(torch.from_numpy(arrays))


def evaluate_folder(folder: str | Path, extractor: FeatureExtractor, reference: torch.Tensor, image_size: int,
                    channels: int) -> EvalResult:
    start = time.perf_counter()
    fake = torch.cat([extractor(batch) for batch in folder_batches(folder, image_size, channels)])
    metrics = compute_quality(reference, fake)
    return EvalResult(metrics, str(folder), None, None, None, None, None, fake.shape[0], extractor.key,
                      time.perf_counter() - start)
