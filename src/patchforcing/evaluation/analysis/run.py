"""Run the analyses on a model and write one JSON file and one PNG per analysis into a folder,
saying on stderr which analysis runs and moving a bar with its network passes (``progress``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from patchforcing.data import ArrayData
from patchforcing.evaluation.analysis import plots
from patchforcing.evaluation.analysis.common import AnalysisConfig
from patchforcing.evaluation.analysis.context import (
    DEFAULT_BASE_TIMES,
    context_ratios,
    context_study,
)
from patchforcing.evaluation.analysis.correlation import DEFAULT_TIMES, difficulty_correlation
from patchforcing.evaluation.analysis.segments import SEGMENTS, segment_losses
from patchforcing.model import PatchModel
from patchforcing.sampling.generation.progress import pass_progress, stage
from patchforcing.utils.io.json_file import write_json

__all__ = ["ANALYSES", "run_analyses"]

ANALYSES = ("segments", "correlation", "context")

Analysis = Callable[[PatchModel, ArrayData, AnalysisConfig, Path], list[Path]]


def _segments(model: PatchModel, data: ArrayData, config: AnalysisConfig, out: Path) -> list[Path]:
    segments = segment_losses(model, data, config)
    return [
        write_json(asdict(segments), out / "segments.json"),
        plots.plot_segments(segments, out / "segments.png"),
    ]


def _correlation(
    model: PatchModel, data: ArrayData, config: AnalysisConfig, out: Path
) -> list[Path]:
    correlation = difficulty_correlation(model, data, config)
    return [
        write_json(asdict(correlation), out / "correlation.json"),
        plots.plot_correlation(correlation, out / "correlation.png"),
    ]


def _context(model: PatchModel, data: ArrayData, config: AnalysisConfig, out: Path) -> list[Path]:
    context = context_study(model, data, config)
    return [
        write_json(asdict(context), out / "context.json"),
        plots.plot_context(context, out / "context.png"),
        plots.plot_context_difficulty(context, out / "context_difficulty.png"),
    ]


# name -> (what it measures, network passes per batch of images, the analysis)
_RUNS: dict[str, tuple[str, int, Analysis]] = {
    "segments": (f"validation loss on {SEGMENTS} t-segments", SEGMENTS, _segments),
    "correlation": (
        f"difficulty against loss at {len(DEFAULT_TIMES)} times",
        len(DEFAULT_TIMES),
        _correlation,
    ),
    "context": (
        f"cleaner context at {len(DEFAULT_BASE_TIMES)} base times",
        sum(1 + len(context_ratios(t)) for t in DEFAULT_BASE_TIMES),
        _context,
    ),
}


def run_analyses(
    model: PatchModel,
    data: ArrayData,
    out_dir: str | Path,
    which: tuple[str, ...] = ANALYSES,
    config: AnalysisConfig = AnalysisConfig(),
    progress: bool = False,
) -> dict[str, list[Path]]:
    """Files written per analysis. ``context`` writes two plots: the loss curve and the
    difficulty shift. With ``progress``, a line on stderr names each analysis as it starts (what it
    measures, its images and passes) and a bar follows its passes."""
    unknown = sorted(set(which) - set(ANALYSES))
    if unknown:
        raise ValueError(f"unknown analyses {unknown}; choose from {ANALYSES}")
    plots.require_pyplot()  # fail before the compute, not after it
    out = Path(out_dir)
    images = min(config.num_images, len(data))
    batches = math.ceil(images / config.batch_size)
    chosen = [name for name in ANALYSES if name in which]
    written: dict[str, list[Path]] = {}
    for i, name in enumerate(chosen, 1):
        what, per_batch, analysis = _RUNS[name]
        passes = per_batch * batches
        stage(
            f"analyze {i}/{len(chosen)}: {name}, {what} ({images} images, {passes} passes "
            f"of up to {config.batch_size})",
            progress,
        )
        with pass_progress(model, passes, name, progress):
            written[name] = analysis(model, data, config, out)
    return written
