"""A diffusers-format pipeline folder of any of our generators
(``patchforcing export --format diffusers``)."""

from __future__ import annotations

from pathlib import Path

from patchforcing.model import AnyModel, load_model
from patchforcing.pipelines.models import wrap_model
from patchforcing.pipelines.pipeline import PatchForcingPipeline
from patchforcing.pipelines.scheduler import PatchForcingEulerScheduler
from patchforcing.utils.io import atomic_directory

__all__ = ["pipeline_for", "export_diffusers"]


def pipeline_for(model: AnyModel) -> PatchForcingPipeline:
    """The pipeline around ``model`` (held, not copied) with a fresh scheduler."""
    return PatchForcingPipeline(wrap_model(model), PatchForcingEulerScheduler())


def export_diffusers(source: str | Path, destination: str | Path, ema: bool = True) -> Path:
    """Write the model ``source`` (a model folder, run or shipped name, as ``load_model`` takes
    it; a run's EMA weights unless ``ema=False``) as a diffusers pipeline folder ``destination``,
    which must not exist or be empty; written atomically (all files or none)."""
    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise ValueError(f"{destination} exists and is not an empty folder; choose another")
    pipe = pipeline_for(load_model(source, ema=ema))
    atomic_directory(destination, lambda tmp: pipe.save_pretrained(tmp), "pipeline folder")
    return destination
