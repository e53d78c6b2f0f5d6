"""Scoring generated images (from a model, streamed) or a folder of images against reference features."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from patchforcing.data import to_model_range
from patchforcing.data.folder import IMAGE_SUFFIXES, load_image
from patchforcing.evaluation.generate import GenerationConfig, build_sampler, generate_batches
from patchforcing.io.atomic import atomic_write
from patchforcing.metrics import FeatureExtractor, QualityMetrics, compute_quality

__all__ = ["EvalResult", "evaluate_model", "evaluate_folder", "folder_batches", "write_json"]


@dataclass(frozen=True)
class EvalResult:
    metrics: QualityMetrics
    source: str  # checkpoint or folder scored
    sampler: str | None
    nfe_requested: int | None
    nfe: int | None  # NFE actually spent per image
    steps: int | None
    seeds: tuple[int, int] | None  # first and last image seed
    num_images: int
    features: str  # extractor key
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_model(model: nn.Module, config: GenerationConfig, extractor: FeatureExtractor,
                   reference: torch.Tensor, source: str = "model", device: torch.device | str = "cpu") -> EvalResult:
    """Generate ``config.num_images`` images batch by batch, embed each batch, then score the features."""
    start = time.perf_counter()
    feats, nfes = [], set()
    for batch in generate_batches(model, config, device):
        feats.append(extractor(batch.images))  # (B, D)
        nfes.add(batch.nfe)
    budget = build_sampler(config.sampler).budget(config.nfe)
    metrics = compute_quality(reference, torch.cat(feats))
    return EvalResult(metrics, source, config.sampler, config.nfe, max(nfes), budget.steps,
                      (config.seed, config.seed + config.num_images - 1), config.num_images, extractor.key,
                      time.perf_counter() - start)


def folder_batches(folder: str | Path, image_size: int, channels: int, batch_size: int = 250) -> Iterator[torch.Tensor]:
    """Model-range batches (B, C, H, W) of every image under ``folder``, read a batch at a time."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
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


def write_json(payload: dict, path: str | Path) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=True)
    return atomic_write(Path(path), lambda tmp: tmp.write_text(text))
