"""Write an authors' checkpoint as our model folder (config.json, model.safetensors, README.md), the
layout ``patchforcing export`` writes and ``PatchForcingDiT.from_pretrained`` reads, or load
it directly."""

from __future__ import annotations

from pathlib import Path

import torch

from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.model.convert.authors import (
    authors_model_config,
    map_authors_state,
    read_authors_file,
)
from patchforcing.model.pretrained import (
    DataSpec,
    ModelMeta,
    check_destination,
    load_state_dict_checked,
)

__all__ = ["authors_meta", "convert_authors_checkpoint", "load_authors_model"]


def authors_meta(model: PatchForcingDiT, source: str | Path) -> ModelMeta:
    """What a converted model records: SD-VAE latents of ImageNet, the authors' recipe
    (SPEC.md section 3)."""
    c = model.config
    data = DataSpec(channels=c.in_channels, image_size=c.image_size, space="sd-vae-latents")
    training = {
        "source": "the authors' release",
        "converted_from": Path(source).name,
        "data": "ImageNet 256 SD-VAE latents",
        "precision": "bf16",
        "weights": "ema",
    }
    return ModelMeta(model.model_type, dict(vars(c)), data, training=training)


def _read(
    source: str | Path, num_heads: int | None, trust_pickle: bool
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    state, stored = read_authors_file(source, trust_pickle)
    model = authors_model_config(state, stored, num_heads)
    return model, map_authors_state(state, model)


def load_authors_model(
    path: str | Path,
    device: torch.device | str = "cpu",
    num_heads: int | None = None,
    trust_pickle: bool = False,
) -> PatchForcingDiT:
    """An authors' file loaded straight into our model (EMA weights, eval mode, ``meta`` set)."""
    model_config, state = _read(path, num_heads, trust_pickle)
    model = PatchForcingDiT(model_config)
    load_state_dict_checked(model, state, str(path))
    model.meta = authors_meta(model, path)
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
