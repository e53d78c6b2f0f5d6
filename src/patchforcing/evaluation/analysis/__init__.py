"""The paper's findings as measurements: loss per t-segment, difficulty-loss correlation,
context effects."""

from patchforcing.evaluation.analysis.common import AnalysisConfig, PatchEval, evaluate_at
from patchforcing.evaluation.analysis.context import ContextCurve, ContextStudy, context_study
from patchforcing.evaluation.analysis.correlation import (
    DifficultyCorrelation,
    difficulty_correlation,
    pearson,
    spearman,
)
from patchforcing.evaluation.analysis.run import ANALYSES, run_analyses
from patchforcing.evaluation.analysis.segments import SegmentLoss, segment_losses

__all__ = [
    "AnalysisConfig",
    "PatchEval",
    "evaluate_at",
    "ContextCurve",
    "ContextStudy",
    "context_study",
    "DifficultyCorrelation",
    "difficulty_correlation",
    "pearson",
    "spearman",
    "ANALYSES",
    "run_analyses",
    "SegmentLoss",
    "segment_losses",
]
