"""Export a checkpoint for sharing: the resolved config plus one set of weights, nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

from patchforcing.io.atomic import atomic_directory
from patchforcing.train.checkpoint import load_model, resolve_checkpoint

__all__ = ["export_checkpoint"]


def export_checkpoint(source: str | Path, destination: str | Path, use_ema: bool = True) -> Path:
    """Copy ``config.json`` and the EMA (``ema.safetensors``) or online (``model.safetensors``) weights
    of a run's newest (or the given) checkpoint into ``destination`` atomically, after checking that
    they load. ``load_model`` reads whichever of the two files the folder holds."""
    folder = resolve_checkpoint(source)
    load_model(folder, use_ema=use_ema)
    weights = "ema.safetensors" if use_ema else "model.safetensors"

    def fill(tmp: Path) -> None:
        for name in ("config.json", weights):
            shutil.copyfile(folder / name, tmp / name)

    return atomic_directory(destination, fill)
