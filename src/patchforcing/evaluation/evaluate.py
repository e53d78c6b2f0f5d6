"""Scoring generated images (from a model, streamed) or a folder of images against reference features.

Generated images are rounded to 8-bit pixels before they are embedded, as when they are written as
PNG files: ``eval`` on a model scores exactly the images ``sample`` writes for the same options and
seeds, and ``eval --folder`` on that output gives the same figures. Several feature extractors can score
the same images in one pass (each batch is embedded by every one); each is scored against its own
reference features.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from patchforcing.data.folder import IMAGE_SUFFIXES, load_image
from patchforcing.evaluation.metrics import BackgroundMasks, FeatureExtractor, QualityMetrics, compute_quality
from patchforcing.evaluation.metrics.alignment import AlignmentAccumulator, AlignmentPart, AlignmentResult
from patchforcing.model import PatchModel
from patchforcing.sampling.generation import GenerationConfig, generate_batches, rank_seeds, read_manifest
from patchforcing.utils.distributed import DistEnv, gather_objects
from patchforcing.utils.io.pixels import from_model_range, to_model_range

__all__ = ["EvalResult", "FeatureScores", "PromptScoring", "evaluate_model", "evaluate_folder", "folder_batches"]

Extractors = FeatureExtractor | Sequence[FeatureExtractor]
References = torch.Tensor | Sequence[torch.Tensor]


@dataclass(frozen=True)
class FeatureScores:
    """The metrics of the scored images in one feature space."""

    features: str  # extractor key
    metrics: QualityMetrics


@dataclass(frozen=True)
class EvalResult:
    scores: tuple[FeatureScores, ...]  # one per extractor, in the order given; the first is the primary one
    source: str  # checkpoint or folder scored
    sampler: str | None  # the sampler config, e.g. "DualLoop(p=0.4, n_inner=4, ...)"
    nfe_requested: int | None
    nfe: int | None  # NFE actually spent per image
    steps: int | None
    seeds: tuple[int, int] | None  # first and last image seed
    num_images: int
    seconds: float
    background: float | None = None  # mean distance (0-255) from the background colour on its pixels
    reference_background: float | None = None  # the same of the reference images
    alignment: AlignmentResult | None = None  # prompt alignment (text-to-image models)

    @property
    def metrics(self) -> QualityMetrics:
        """The metrics in the first (primary) feature space."""
        return self.scores[0].metrics

    @property
    def features(self) -> str:
        """The key of the first (primary) feature space."""
        return self.scores[0].features

    def to_dict(self) -> dict[str, Any]:
        """The primary space's ``features`` and ``metrics`` first, then the run's facts, then every space's
        metrics under its key in ``feature_spaces``."""
        facts = {k: v for k, v in asdict(self).items() if k != "scores"}
        return {"features": self.features, "metrics": asdict(self.metrics), **facts,
                "feature_spaces": {s.features: asdict(s.metrics) for s in self.scores}}


def _spaces(extractor: Extractors, reference: References) -> tuple[list[FeatureExtractor], list[torch.Tensor]]:
    """One extractor with its reference features, or several, as two lists of the same length."""
    extractors: list[FeatureExtractor] = list(extractor) if isinstance(extractor, Sequence) else [extractor]
    references = [reference] if isinstance(reference, torch.Tensor) else list(reference)
    if not extractors or len(extractors) != len(references):
        raise ValueError(f"need one reference feature set per extractor, got {len(extractors)} extractors and "
                         f"{len(references)} reference sets")
    return extractors, references


def _scores(extractors: list[FeatureExtractor], references: list[torch.Tensor],
            feats: list[torch.Tensor]) -> tuple[FeatureScores, ...]:
    return tuple(FeatureScores(e.key, compute_quality(r, f)) for e, r, f in zip(extractors, references, feats))


@dataclass(frozen=True)
class PromptScoring:
    """Prompt alignment of generated images: the accumulator, and optionally the category index of each
    of the config's prompts (cycled with them) for category accuracy."""

    scores: AlignmentAccumulator
    categories: tuple[int, ...] | None = None

    def update(self, images: torch.Tensor, config: GenerationConfig, seeds: Sequence[int],
               prompts: list[str] | None) -> None:
        if prompts is None:
            raise ValueError("prompt alignment needs a text-to-image model")
        cats = None if self.categories is None else \
            torch.tensor([self.categories[(s - config.seed) % len(self.categories)] for s in seeds])
        self.scores.update(images, prompts, cats)


@dataclass(frozen=True)
class _RankPart:
    """What one rank sends to rank 0."""

    features: tuple[torch.Tensor, ...]  # per extractor (n_rank, D) on the CPU
    nfe: int
    steps: int
    background: tuple[float, int]  # (sum, count) of distances from the background colour
    alignment: AlignmentPart | None  # this rank's prompt-alignment scores


def _rank_features(model: PatchModel, config: GenerationConfig, extractors: list[FeatureExtractor], env: DistEnv,
                   device: torch.device | str, background: BackgroundMasks | None,
                   alignment: PromptScoring | None) -> _RankPart:
    feats: list[list[torch.Tensor]] = [[] for _ in extractors]
    nfe, steps, total, count = 0, 0, 0.0, 0
    for batch in generate_batches(model, config, device, seeds=rank_seeds(config, env)):
        pixels = from_model_range(batch.images)  # (B, C, H, W) uint8, as a PNG holds them
        for extractor, part in zip(extractors, feats):
            part.append(extractor(to_model_range(pixels)).cpu())  # (B, D)
        if alignment is not None:
            alignment.update(to_model_range(pixels), config, batch.seeds, batch.prompts)
        nfe, steps = max(nfe, batch.nfe), batch.steps
        if background is not None:
            part_sum, part_count = background.sums(pixels, batch.labels)
            total, count = total + part_sum, count + part_count
    empty = torch.zeros(0, 0)
    return _RankPart(tuple(torch.cat(f) if f else empty for f in feats), nfe, steps, (total, count),
                     None if alignment is None else alignment.scores.part())


def evaluate_model(model: PatchModel, config: GenerationConfig, extractor: Extractors,
                   reference: References, source: str = "model", device: torch.device | str = "cpu",
                   env: DistEnv = DistEnv(), background: BackgroundMasks | None = None,
                   reference_background: float | None = None,
                   alignment: PromptScoring | None = None) -> EvalResult | None:
    """Generate ``config.num_images`` images batch by batch, embed each batch (with every extractor
    when given a list, each scored against its own reference features, in the same order), then score
    the features (and, with ``background`` masks, the background level; with ``alignment``, how well
    the images of a text-to-image model match their prompts). Under several processes each rank makes
    its share of the seeds and rank 0 gathers the features and alignment scores and returns the result
    (the other ranks return None)."""
    start = time.perf_counter()
    extractors, references = _spaces(extractor, reference)
    gathered = gather_objects(_rank_features(model, config, extractors, env, device, background, alignment), env)
    if gathered is None:
        return None
    if alignment is not None:
        for other in gathered[1:]:  # rank 0's own images are in its accumulator already
            assert other.alignment is not None
            alignment.scores.merge(other.alignment)
    parts = [part for part in gathered if isinstance(part, _RankPart) and part.features[0].numel()]
    feats = [torch.cat([p.features[k] for p in parts]) for k in range(len(extractors))]  # (num_images, D) each
    total, count = sum(p.background[0] for p in parts), sum(p.background[1] for p in parts)
    sampler = config.resolved_sampler(model.config.time_mode)
    return EvalResult(_scores(extractors, references, feats), source, repr(sampler), config.nfe,
                      max(p.nfe for p in parts), max(p.steps for p in parts),
                      (config.seed, config.seed + config.num_images - 1), config.num_images,
                      time.perf_counter() - start, total / count if count else None, reference_background,
                      alignment.scores.compute() if alignment is not None else None)


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


def evaluate_folder(folder: str | Path, extractor: Extractors, reference: References, image_size: int,
                    channels: int, background: BackgroundMasks | None = None,
                    reference_background: float | None = None) -> EvalResult:
    """Score a folder's images (in every feature space given, as :func:`evaluate_model`); the background
    level needs their classes (a sample manifest)."""
    start = time.perf_counter()
    extractors, references = _spaces(extractor, reference)
    feats: list[list[torch.Tensor]] = [[] for _ in extractors]
    total, count, labelled = 0.0, 0, True
    for pixels, labels in folder_batches(folder, image_size, channels):
        for one, part in zip(extractors, feats):
            part.append(one(to_model_range(pixels)))  # (B, D)
        labelled = labelled and labels is not None
        if background is not None and labels is not None:
            part_sum, part_count = background.sums(pixels, labels)
            total, count = total + part_sum, count + part_count
    fakes = [torch.cat(part) for part in feats]  # (num_images, D) each
    level = total / count if count and labelled else None
    return EvalResult(_scores(extractors, references, fakes), str(folder), None, None, None, None, None,
                      fakes[0].shape[0], time.perf_counter() - start, level, reference_background)
