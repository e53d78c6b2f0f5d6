"""Distributed generation and evaluation: each rank takes a disjoint range of image seeds.

Image i always uses seed ``seed + i`` (noise and class), and ranges are cut at batch boundaries
(:func:`~patchforcing.distributed.shard.rank_range`), so the union over ranks is exactly the
single-process set, batch for batch. Images never travel: every rank writes its own PNGs or embeds
its own images; only small summaries (per-image records, CPU feature matrices) reach rank 0.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from patchforcing.distributed.env import DistEnv, gather_objects
from patchforcing.distributed.shard import rank_range
from patchforcing.evaluation import EvalResult, GenerationConfig, build_sampler, generate_batches
from patchforcing.io.atomic import atomic_write
from patchforcing.metrics import FeatureExtractor, compute_quality

__all__ = ["ImageRecord", "rank_seeds", "rank_generation", "merge_records", "rank_features", "evaluate_distributed"]


@dataclass(frozen=True)
class ImageRecord:
    """What rank 0 learns about one image written by some rank."""

    seed: int
    label: int
    file: str
    nfe: int


def rank_seeds(seed: int, num: int, env: DistEnv, batch_size: int) -> range:
    """Seeds of this rank's images, a disjoint share of ``seed .. seed + num - 1``."""
    return rank_range(num, env.rank, env.world_size, block=batch_size, start=seed)


def rank_generation(config: GenerationConfig, env: DistEnv) -> GenerationConfig | None:
    """This rank's part of a generation config (None when it has no images, i.e. world > batches)."""
    seeds = rank_seeds(config.seed, config.num_images, env, config.batch_size)
    return replace(config, seed=seeds.start, num_images=len(seeds)) if len(seeds) else None


def merge_records(records: list[ImageRecord], env: DistEnv, path: str | Path) -> list[ImageRecord] | None:
    """Gather every rank's records on rank 0, check that no seed appears twice, write them sorted by
    seed as JSON lines and return them; other ranks return None."""
    gathered = gather_objects(records, env)
    if gathered is None:
        return None
    merged = sorted((r for part in gathered for r in part), key=lambda r: r.seed)
    seeds = [r.seed for r in merged]
    if len(set(seeds)) != len(seeds):
        raise RuntimeError("two ranks generated the same seed; the seed ranges overlap")
    text = "".join(json.dumps(vars(r)) + "\n" for r in merged)
    atomic_write(Path(path), lambda tmp: tmp.write_text(text))
    return merged


def rank_features(model: nn.Module, config: GenerationConfig, extractor: FeatureExtractor, env: DistEnv,
                  device: torch.device | str) -> tuple[torch.Tensor, int]:
    """Features (n_rank, D) on the CPU of this rank's images and the NFE its sampler spent per image."""
    part = rank_generation(config, env)
    if part is None:
        return torch.zeros(0, 0), 0
    feats, nfe = [], 0
    for batch in generate_batches(model, part, device):
        feats.append(extractor(batch.images).cpu())  # (B, D)
        nfe = max(nfe, batch.nfe)
    return torch.cat(feats), nfe


def evaluate_distributed(model: nn.Module, config: GenerationConfig, extractor: FeatureExtractor,
                         reference: torch.Tensor, env: DistEnv, source: str = "model",
                         device: torch.device | str = "cpu") -> EvalResult | None:
    """The metrics of :func:`patchforcing.evaluation.evaluate_model` for the same config, computed by
    all ranks together; rank 0 returns the result, the others None."""
    start = time.perf_counter()
    gathered = gather_objects(rank_features(model, config, extractor, env, device), env)
    if gathered is None:
        return None
    feats = torch.cat([f for f, _ in gathered if f.numel()])  # (num_images, D), in seed order
    nfe = max(n for _, n in gathered)
    budget = build_sampler(config.sampler).budget(config.nfe)
    metrics = compute_quality(reference, feats)
    return EvalResult(metrics, source, config.sampler, config.nfe, nfe, budget.steps,
                      (config.seed, config.seed + config.num_images - 1), config.num_images, extractor.key,
                      time.perf_counter() - start)
