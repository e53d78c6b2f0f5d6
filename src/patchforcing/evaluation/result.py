"""What an evaluation returns: the metrics in every feature space, with the facts of the run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from patchforcing.evaluation.metrics import QualityMetrics
from patchforcing.evaluation.metrics.alignment import AlignmentResult

__all__ = ["EvalResult", "FeatureScores"]


@dataclass(frozen=True)
class FeatureScores:
    """The metrics of the scored images in one feature space."""

    features: str  # extractor key
    metrics: QualityMetrics


@dataclass(frozen=True)
class EvalResult:
    """Scores of one evaluation, one :class:`FeatureScores` per feature space (the first is
    primary, see :attr:`metrics`), with what was scored and how the images were made."""

    scores: tuple[FeatureScores, ...]  # one per feature space, in order; the first is primary
    source: str  # checkpoint or folder scored
    sampler: str | None  # the sampler config, e.g. "DualLoop(p=0.4, n_inner=4, ...)"
    nfe_requested: int | None
    nfe: int | None  # NFE actually spent per image
    steps: int | None
    seeds: tuple[int, int] | None  # first and last image seed
    num_images: int
    seconds: float
    background: float | None = None  # mean distance (0-255) from the background colour there
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
        """The primary space's ``features`` and ``metrics`` first, then the run's facts, then every
        space's metrics under its key in ``feature_spaces``."""
        facts = {k: v for k, v in asdict(self).items() if k != "scores"}
        return {
            "features": self.features,
            "metrics": asdict(self.metrics),
            **facts,
            "feature_spaces": {s.features: asdict(s.metrics) for s in self.scores},
        }
