"""Run the analyses on a model and write one JSON file and one PNG per analysis into a folder."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from patchforcing.data import ArrayData
from patchforcing.evaluation.analysis import plots
from patchforcing.evaluation.analysis.common import AnalysisConfig
from patchforcing.evaluation.analysis.context import context_study
from patchforcing.evaluation.analysis.correlation import difficulty_correlation
from patchforcing.evaluation.analysis.segments import segment_losses
from patchforcing.model import PatchModel
from patchforcing.utils.io.json_file import write_json

__all__ = ["ANALYSES", "run_analyses"]

ANALYSES = ("segments", "correlation", "context")


def run_analyses(
    model: PatchModel,
    data: ArrayData,
    out_dir: str | Path,
    which: tuple[str, ...] = ANALYSES,
    config: AnalysisConfig = AnalysisConfig(),
) -> dict[str, list[Path]]:
    """Files written per analysis. ``context`` writes two plots: the loss curve and the
    difficulty shift."""
    unknown = sorted(set(which) - set(ANALYSES))
    if unknown:
        raise ValueError(f"unknown analyses {unknown}; choose from {ANALYSES}")
    plots.require_pyplot()  # fail before the compute, not after it
    out = Path(out_dir)
    written: dict[str, list[Path]] = {}
    if "segments" in which:
        segments = segment_losses(model, data, config)
        written["segments"] = [
            write_json(asdict(segments), out / "segments.json"),
            plots.plot_segments(segments, out / "segments.png"),
        ]
    if "correlation" in which:
        correlation = difficulty_correlation(model, data, config)
        written["correlation"] = [
            write_json(asdict(correlation), out / "correlation.json"),
            plots.plot_correlation(correlation, out / "correlation.png"),
        ]
    if "context" in which:
        context = context_study(model, data, config)
        written["context"] = [
            write_json(asdict(context), out / "context.json"),
            plots.plot_context(context, out / "context.png"),
            plots.plot_context_difficulty(context, out / "context_difficulty.png"),
        ]
    return written
