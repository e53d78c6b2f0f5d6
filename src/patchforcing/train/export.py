"""Export a checkpoint for sharing: a model folder with one set of weights, config and
model card."""

from __future__ import annotations

from pathlib import Path

from patchforcing.model import load_model
from patchforcing.model.pretrained import check_destination, resolve_model_folder

__all__ = ["export_checkpoint"]


def export_checkpoint(
    source: str | Path, destination: str | Path, use_ema: bool = True, overwrite: bool = False
) -> Path:
    """Write the EMA (or online) weights of a run's newest (or the given) checkpoint into the model
    folder ``destination`` (config.json, model.safetensors, README.md, and text_encoder.json for a
    text-to-image model), atomically. The destination may
    not lie inside the source run, and an existing model folder is replaced only
    with ``overwrite``."""
    folder = resolve_model_folder(source)
    model = load_model(
        folder, ema=use_ema
    )  # either model kind; a text model keeps its text encoder
    run = folder.parent.parent if folder.parent.name == "checkpoints" else folder
    check_destination(
        Path(destination), overwrite, source=run
    )  # the checkpoint folder lies inside its run
    recorded = model.meta.training if model.meta is not None else {}
    training = {**recorded, "weights": "ema" if use_ema else "online", "exported_from": str(folder)}
    return model.export_folder(destination, model.make_meta(training=training), overwrite=overwrite)
