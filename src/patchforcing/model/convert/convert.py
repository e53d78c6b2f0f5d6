"""Write an authors' checkpoint as our model folder (config.json, model.safetensors, README.md), the
layout ``patchforcing export`` writes and ``PatchForcingDiT.from_pretrained`` reads, or load
it directly; the folder records what the file was (:mod:`patchforcing.model.convert.source`)."""

from __future__ import annotations

from pathlib import Path

import torch

from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.model.convert.authors import (
    authors_model_config,
    map_authors_state,
    open_authors_file,
)
from patchforcing.model.convert.source import CheckpointSource, detect_source
from patchforcing.model.pretrained import (
    DataSpec,
    ModelMeta,
    check_destination,
    load_state_dict_checked,
)

__all__ = ["authors_meta", "convert_authors_checkpoint", "load_authors_model"]


def authors_meta(
    model: PatchForcingDiT, source: str | Path, detected: CheckpointSource
) -> ModelMeta:
    """What a converted model records: SD-VAE latents, what the file was and, for the authors'
    Patch Forcing release, their recipe (SPEC.md section 3)."""
    c = model.config
    data = DataSpec(channels=c.in_channels, image_size=c.image_size, space="sd-vae-latents")
    training = detected.training(Path(source).name)
    return ModelMeta(model.model_type, dict(vars(c)), data, training=training)


def _read(
    source: str | Path, num_heads: int | None, trust_pickle: bool
) -> tuple[ModelConfig, dict[str, torch.Tensor], CheckpointSource]:
    file = open_authors_file(source, trust_pickle)
    model = authors_model_config(file.state, file.config, num_heads)
    return model, map_authors_state(file.state, model), detect_source(file, model)


def load_authors_model(
    path: str | Path,
    device: torch.device | str = "cpu",
    num_heads: int | None = None,
    trust_pickle: bool = False,
) -> PatchForcingDiT:
    """An authors' file loaded straight into our model (EMA weights, eval mode, ``meta`` set)."""
    model_config, state, detected = _read(path, num_heads, trust_pickle)
    model = PatchForcingDiT(model_config)
    load_state_dict_checked(model, state, str(path))
    model.meta = authors_meta(model, path, detected)
    return model.to(device).eval()


def convert_authors_checkpoint(
    source: str | Path,
    destination: str | Path,
    num_heads: int | None = None,
    trust_pickle: bool = False,
    overwrite: bool = False,
) -> Path:
    """Check every tensor, then write the model folder ``destination`` atomically (refused before
    any work when it would replace files the package did not write)."""
    check_destination(Path(destination), overwrite)
    model = load_authors_model(source, num_heads=num_heads, trust_pickle=trust_pickle)
    return model.export_folder(destination, overwrite=overwrite)
