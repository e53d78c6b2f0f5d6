"""The evaluation functions of release 0.1, kept for one more release: use :class:`Evaluator`.

:func:`evaluate_model` and :func:`evaluate_folder` warn with a :class:`DeprecationWarning` and give
the figures they gave before (they run the evaluator's scoring); they are removed in 0.3.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from patchforcing.evaluation.metrics import BackgroundMasks, FeatureExtractor
from patchforcing.evaluation.prompt_scoring import PromptScoring
from patchforcing.evaluation.result import EvalResult, FeatureScores
from patchforcing.evaluation.scoring import (
    FeatureSpace,
    folder_batches,
    score_generated,
    score_image_folder,
)
from patchforcing.model import PatchModel
from patchforcing.sampling.generation import GenerationConfig
from patchforcing.utils.distributed import DistEnv

__all__ = [
    "EvalResult",
    "FeatureScores",
    "PromptScoring",
    "evaluate_model",
    "evaluate_folder",
    "folder_batches",
]

Extractors = FeatureExtractor | Sequence[FeatureExtractor]
References = torch.Tensor | Sequence[torch.Tensor]


def _spaces(extractor: Extractors, reference: References) -> list[FeatureSpace]:
    """One extractor with its reference features, or several, as spaces named by their keys."""
    extractors = list(extractor) if isinstance(extractor, Sequence) else [extractor]
    references = [reference] if isinstance(reference, torch.Tensor) else list(reference)
    if not extractors or len(extractors) != len(references):
        raise ValueError(
            f"need one reference feature set per extractor, got {len(extractors)} "
            f"extractors and {len(references)} reference sets"
        )
    return [FeatureSpace(e.key, e, r) for e, r in zip(extractors, references)]


def _deprecated(name: str) -> None:
    warnings.warn(
        f"patchforcing.evaluation.{name} is deprecated and will be removed in 0.3; use "
        "patchforcing.evaluation.Evaluator",
        DeprecationWarning,
        stacklevel=3,
    )


def evaluate_model(
    model: PatchModel,
    config: GenerationConfig,
    extractor: Extractors,
    reference: References,
    source: str = "model",
    device: torch.device | str = "cpu",
    env: DistEnv = DistEnv(),
    background: BackgroundMasks | None = None,
    reference_background: float | None = None,
    alignment: PromptScoring | None = None,
) -> EvalResult | None:
    """Deprecated: :meth:`Evaluator.score_model`. The result on rank 0, None on the others."""
    _deprecated("evaluate_model")
    return score_generated(
        model,
        config,
        _spaces(extractor, reference),
        env=replace(env, device=torch.device(device)),
        background=background,
        reference_background=reference_background,
        alignment=alignment,
        source=source,
    )


def evaluate_folder(
    folder: str | Path,
    extractor: Extractors,
    reference: References,
    image_size: int,
    channels: int,
    background: BackgroundMasks | None = None,
    reference_background: float | None = None,
) -> EvalResult:
    """Deprecated: :meth:`Evaluator.score_folder`."""
    _deprecated("evaluate_folder")
    return score_image_folder(
        folder,
        _spaces(extractor, reference),
        image_size,
        channels,
        background=background,
        reference_background=reference_background,
    )
