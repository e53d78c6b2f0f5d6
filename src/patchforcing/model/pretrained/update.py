"""Change what a model folder records about its model (recommended sampling, measured quality,
training facts) and write its card again, without touching its weights."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from patchforcing.model.pretrained.card import model_card
from patchforcing.model.pretrained.errors import CheckpointError
from patchforcing.model.pretrained.meta import ModelMeta, meta_to_json
from patchforcing.model.pretrained.mixin import PretrainedMixin
from patchforcing.model.pretrained.recommended import RecommendedSampling
from patchforcing.utils.io.atomic import atomic_write

__all__ = ["update_model_folder"]


def update_model_folder(
    model: PretrainedMixin,
    *,
    recommended_sampling: RecommendedSampling | None = None,
    quality: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> ModelMeta:
    """Record ``recommended_sampling`` (given: replaced), ``quality`` (given: replaced) and the
    ``training`` entries given (added to the recorded ones) in the ``config.json`` of the folder
    ``model`` was loaded from (``from_pretrained``), then write its ``README.md`` again; the
    weights and every other file stay as they are. Each file is replaced in one rename. Returns
    the new metadata, which ``model.meta`` then holds too.

    Example::

        model = load_model("my-model")
        update_model_folder(model, recommended_sampling=RecommendedSampling("euler-pf", 32, 3.0))
    """
    if model.source is None or model.meta is None:
        raise CheckpointError("the model was not loaded from a folder (from_pretrained)")
    folder, meta = Path(model.source), model.meta
    changes: dict[str, Any] = {}
    if recommended_sampling is not None:
        changes["recommended_sampling"] = recommended_sampling
    if quality is not None:
        changes["quality"] = dict(quality)
    if training is not None:
        changes["training"] = {**meta.training, **training}
    meta = dataclasses.replace(meta, **changes)
    layout = json.loads((folder / "config.json").read_text()).get("layout")  # for readers only
    text = meta_to_json(meta, layout)
    atomic_write(folder / "config.json", lambda tmp: tmp.write_text(text), "model config")
    parameters = sum(p.numel() for p in model.parameters())
    card = model_card(meta, folder.name, parameters)
    atomic_write(folder / "README.md", lambda tmp: tmp.write_text(card), "model card")
    model.meta = meta
    return meta
