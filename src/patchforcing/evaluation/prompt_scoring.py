"""Prompt alignment of a text-to-image model's images: the scorer an evaluation feeds, and the
prompts a reference set's captions give (so that the generated images can be compared with the
ones they describe)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from patchforcing.data import ImageArrays
from patchforcing.evaluation.metrics.alignment import AlignmentAccumulator
from patchforcing.evaluation.metrics.alignment_model import load_image_text_model
from patchforcing.evaluation.metrics.classifier import FeatureClassifier
from patchforcing.sampling.generation import GenerationConfig
from patchforcing.sampling.generation.prompts import PromptSet

__all__ = ["PromptScoring", "build_prompt_scoring", "reference_prompts"]


@dataclass(frozen=True)
class PromptScoring:
    """Prompt alignment of generated images: the accumulator, and optionally the category index of
    each of the config's prompts (cycled with them) for category accuracy. It accumulates: use one
    per evaluation."""

    scores: AlignmentAccumulator
    categories: tuple[int, ...] | None = None

    def update(
        self,
        images: torch.Tensor,
        config: GenerationConfig,
        seeds: Sequence[int],
        prompts: list[str] | None,
    ) -> None:
        if prompts is None:
            raise ValueError("prompt alignment needs a text-to-image model")
        cats = (
            None
            if self.categories is None
            else torch.tensor(
                [self.categories[(s - config.seed) % len(self.categories)] for s in seeds]
            )
        )
        self.scores.update(images, prompts, cats)


def build_prompt_scoring(
    image_text: str | Path,
    categories: Sequence[str | None],
    classifier: FeatureClassifier | None,
    classifier_name: str,
    device: torch.device | str,
) -> PromptScoring:
    """The alignment scores of the image-text model ``image_text``; category accuracy with
    ``classifier`` (named ``classifier_name`` in errors) when there is one and the prompts name
    categories, which must then be its class names."""
    embedder = load_image_text_model(image_text, device)
    if classifier is None or all(c is None for c in categories):
        return PromptScoring(AlignmentAccumulator(embedder))
    names = classifier.meta.data.class_names if classifier.meta is not None else ()
    unknown = sorted({c for c in categories if c not in names}, key=str)
    if unknown:
        raise ValueError(
            f"categories {unknown} are not classes of the classifier "
            f"{classifier_name} ({', '.join(names)})"
        )
    indices = tuple(names.index(str(c)) for c in categories)
    return PromptScoring(AlignmentAccumulator(embedder, classifier), indices)


def reference_prompts(data: ImageArrays) -> PromptSet:
    """The first caption of every reference image, with its class name as the category."""
    if not data.has_captions:
        raise ValueError(
            "reference prompts (--reference-prompts) need a reference set with "
            "captions (e.g. --reference emoji)"
        )
    names = data.class_names or tuple(str(i) for i in range(data.num_classes))
    return PromptSet(tuple(c[0] for c in data.captions), tuple(names[int(y)] for y in data.labels))
