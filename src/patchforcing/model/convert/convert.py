"""Write an authors' checkpoint as our model folder (config.json, model.safetensors, README.md), the
layout ``patchforcing export`` writes and ``PatchForcingDiT.from_pretrained`` reads, or load
it directly; the folder records what the file was (:mod:`patchforcing.model.convert.source`) and,
for a REPA checkpoint, what became of its projector (:mod:`patchforcing.model.convert.repa`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.model.convert.authors import (
    authors_model_config,
    map_authors_state,
    open_authors_file,
)
from patchforcing.model.convert.repa import (
    check_projector_file,
    repa_meta,
    split_projector,
    write_projector,
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
) -> tuple[
    ModelConfig, dict[str, torch.Tensor], dict[str, torch.Tensor] | None, dict, CheckpointSource
]:
    """(config, our state dict, a REPA checkpoint's projector or None, the file's config, what
    the file was)."""
    file = open_authors_file(source, trust_pickle)
    state, projector = split_projector(file.state)
    file = replace(file, state=state)
    model = authors_model_config(file.state, file.config, num_heads)
    return (
        model,
        map_authors_state(file.state, model),
        projector,
        file.config,
        detect_source(file, model),
    )


def _load(
    path: str | Path, num_heads: int | None, trust_pickle: bool, kept: str | Path | None = None
) -> tuple[PatchForcingDiT, dict[str, torch.Tensor] | None]:
    model_config, state, projector, stored, detected = _read(path, num_heads, trust_pickle)
    model = PatchForcingDiT(model_config)
    load_state_dict_checked(model, state, str(path))
    model.meta = repa_meta(authors_meta(model, path, detected), projector, stored, kept)
    return model.eval(), projector


def load_authors_model(
    path: str | Path,
    device: torch.device | str = "cpu",
    num_heads: int | None = None,
    trust_pickle: bool = False,
) -> PatchForcingDiT:
    """An authors' file loaded straight into our model (EMA weights, eval mode, ``meta`` set; a
    REPA checkpoint's projector is left out)."""
    return _load(path, num_heads, trust_pickle)[0].to(device)


def convert_authors_checkpoint(
    source: str | Path,
    destination: str | Path,
    num_heads: int | None = None,
    trust_pickle: bool = False,
    overwrite: bool = False,
    keep_projector: str | Path | None = None,
) -> Path:
    """Check every tensor, then write the model folder ``destination`` atomically (refused before
    any work when it would replace files the package did not write). A REPA checkpoint's projector
    is dropped, or written to the new file ``keep_projector``
    (:mod:`patchforcing.model.convert.repa`)."""
    check_destination(Path(destination), overwrite)
    if keep_projector is not None:
        check_projector_file(keep_projector)
    model, projector = _load(source, num_heads, trust_pickle, keep_projector)
    if keep_projector is not None:
        write_projector(projector, keep_projector)
    return model.export_folder(destination, overwrite=overwrite)
