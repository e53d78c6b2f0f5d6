"""The ``config.json`` of a model folder: one schema for every model the package writes or reads.

A model folder holds ``config.json`` (this schema), ``model.safetensors`` and a generated
``README.md`` model card; a training checkpoint adds ``ema.safetensors``, ``train_config.json`` and
``train_state.pt`` beside them. The same layout serves Patch Forcing generators, global-time
baselines, converted authors' checkpoints and the metrics classifier (``model_type`` tells them
apart), and it is the layout of a Hugging Face hub model repository.

Folders written by earlier versions keep loading: a whole training config (``{"model": ...,
"optim": ...}``) and the classifier's ``{"config": ..., "info": ...}`` are read as this schema.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from patchforcing.model.pretrained.errors import CheckpointError, NewerFormatError
from patchforcing.model.pretrained.recommended import RECOMMENDED_KEY, RecommendedSampling

__all__ = [
    "MODEL_FORMAT_VERSION",
    "DataSpec",
    "ModelMeta",
    "meta_to_json",
    "meta_from_dict",
    "read_meta",
]

MODEL_FORMAT_VERSION = 2  # 1: config.json was a training config (or the classifier's own layout)
SPACES = ("pixels", "sd-vae-latents")


@dataclass(frozen=True)
class DataSpec:
    """What the model's inputs and outputs are: (channels, image_size, image_size) arrays whose
    values span ``value_range`` (pixels map 0 -> low, 255 -> high), in pixel or latent space."""

    channels: int
    image_size: int
    value_range: tuple[float, float] = (-1.0, 1.0)
    space: str = "pixels"
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"data space must be one of {SPACES}, got {self.space!r}")
        if min(self.channels, self.image_size) < 1:
            raise ValueError(
                f"channels and image_size must be >= 1, got {self.channels}, {self.image_size}"
            )


@dataclass(frozen=True)
class ModelMeta:
    """``architecture`` holds the model class's config fields; ``training`` how the weights were
    made (command, steps, data, seed, wall time); ``quality`` what was measured on them (free-form
    values, and ``evaluations``: a list of ``{"settings", "command", "images", "metrics"}`` that
    the model card shows as a table); ``recommended_sampling`` the sampling settings measured best
    (None: none recorded)."""

    model_type: str
    architecture: dict[str, Any]
    data: DataSpec
    training: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    format_version: int = MODEL_FORMAT_VERSION
    recommended_sampling: RecommendedSampling | None = None


def meta_to_json(meta: ModelMeta, layout: dict[str, Any] | None = None) -> str:
    """The JSON text of ``config.json``; ``layout`` (e.g. the patch grid) is written for
    readers only."""
    values = asdict(meta)
    if meta.recommended_sampling is None:
        del values[RECOMMENDED_KEY]  # a folder without a record reads as "none recorded"
    if layout:
        values["layout"] = layout
    return json.dumps(values, indent=2, sort_keys=True) + "\n"


def _data_spec(values: dict[str, Any]) -> DataSpec:
    return DataSpec(
        channels=int(values["channels"]),
        image_size=int(values["image_size"]),
        value_range=tuple(float(v) for v in values.get("value_range", (-1.0, 1.0))),  # type: ignore[arg-type]
        space=str(values.get("space", "pixels")),
        class_names=tuple(str(n) for n in values.get("class_names", ())),
    )


def _from_train_config(values: dict[str, Any]) -> ModelMeta:
    """Version 1 generator folders: config.json was the whole training config."""
    model = dict(values["model"])
    source = str((values.get("data") or {}).get("source", ""))
    space = "sd-vae-latents" if "latent" in source else "pixels"
    data = DataSpec(
        channels=int(model["in_channels"]), image_size=int(model["image_size"]), space=space
    )
    training = {k: v for k, v in values.items() if k not in ("model", "format_version")}
    return ModelMeta("patchforcing-dit", model, data, training=training, format_version=1)


def _from_classifier(values: dict[str, Any]) -> ModelMeta:
    """Version 1 classifier folders: ``{"config": ..., "info": ...}``."""
    config = dict(values["config"])
    data = DataSpec(channels=int(config["in_channels"]), image_size=int(config["image_size"]))
    return ModelMeta(
        "feature-classifier", config, data, training=dict(values.get("info", {})), format_version=1
    )


def meta_from_dict(values: dict[str, Any], source: str = "config.json") -> ModelMeta:
    """Any supported version of ``config.json``, as the current schema."""
    if not isinstance(values, dict):
        raise CheckpointError(f"{source}: expected a JSON object, got {type(values).__name__}")
    try:
        if "model_type" not in values:
            if isinstance(values.get("model"), dict):
                return _from_train_config(values)
            if isinstance(values.get("config"), dict):
                return _from_classifier(values)
            raise CheckpointError(
                f"{source} is not a patchforcing model config (no model_type, model or config key)"
            )
        version = int(values.get("format_version", MODEL_FORMAT_VERSION))
        if version > MODEL_FORMAT_VERSION:
            raise NewerFormatError(
                f"{source} has model format version {version}, newer than this patchforcing "
                f"supports ({MODEL_FORMAT_VERSION}); upgrade patchforcing"
            )
        return ModelMeta(
            model_type=str(values["model_type"]),
            architecture=dict(values["architecture"]),
            data=_data_spec(values["data"]),
            training=dict(values.get("training", {})),
            quality=dict(values.get("quality", {})),
            format_version=version,
            recommended_sampling=None
            if values.get(RECOMMENDED_KEY) is None
            else RecommendedSampling.from_dict(values[RECOMMENDED_KEY], source),
        )
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"invalid model config {source}: {type(err).__name__}: {err}"
        ) from err


def read_meta(folder: str | Path) -> ModelMeta:
    """The :class:`ModelMeta` of a model or checkpoint folder."""
    path = Path(folder) / "config.json"
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"cannot read model config {path}: {err}") from err
    return meta_from_dict(values, str(path))
