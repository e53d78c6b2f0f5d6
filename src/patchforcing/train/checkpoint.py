"""Training checkpoints: one folder per step, written atomically. Each is a model folder
(:mod:`patchforcing.model.pretrained`) plus what resuming needs:

    config.json         model config (architecture, data, how it was trained), the folder schema
    model.safetensors   online weights
    ema.safetensors     EMA weights (what sampling loads by default)
    README.md           model card
    text_encoder.json   text-to-image models: the text encoder (vocabulary or encoder folder)
    train_config.json   the resolved TrainConfig of the run
    train_state.pt      optimizer, step and RNG state, training seconds so far

A folder ``checkpoints/step_XXXXXXXX`` exists only once complete; interrupted writes
(SIGKILL, a full disk) leave a hidden temporary that is ignored and cleaned up, and older
checkpoints are pruned only after the new one is in place. Files from a newer format version are
refused. Checkpoints written before the model-folder schema (config.json = the TrainConfig, no
train_config.json) still load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from patchforcing.model import PatchForcingDiT, PatchForcingT2I
from patchforcing.model.pretrained import (
    TEXT_ENCODER_FILE,
    CheckpointError,
    DataSpec,
    ModelMeta,
    latest_checkpoint,
    list_checkpoints,
    load_state_dict_checked,
    meta_to_json,
    read_weights,
    write_weights,
)
from patchforcing.model.pretrained.card import model_card
from patchforcing.model.pretrained.folder import check_format_version, checkpoint_name
from patchforcing.model.text_config import TextModelConfig
from patchforcing.train.config import (
    FORMAT_VERSION,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    config_to_json,
)
from patchforcing.utils.io.atomic import (
    DiskWriteError,
    atomic_directory,
    clean_temporaries,
    remove_directory,
)

__all__ = [
    "CHECKPOINT_WRITES",
    "save_checkpoint",
    "read_config",
    "read_train_config",
    "load_train_state",
    "checkpoint_meta",
    "recorded_train_seconds",
]

CHECKPOINT_WRITES = (  # every file save_checkpoint writes; pruning deletes these and no others
    "config.json",
    "train_config.json",
    TEXT_ENCODER_FILE,
    "model.safetensors",
    "ema.safetensors",
    "README.md",
    "train_state.pt",
)

Weights = (
    nn.Module | dict[str, torch.Tensor]
)  # a module, or its full state dict (gathered from FSDP shards)


def checkpoint_meta(
    config: TrainConfig, step: int, class_names: tuple[str, ...] = (), run_id: str = ""
) -> ModelMeta:
    """The model-folder config.json of a training checkpoint; its ``training.repa`` says how the
    run used representation alignment (null: not at all)."""
    m = config.model
    space = "sd-vae-latents" if "latent" in config.data.source else "pixels"
    data = DataSpec(
        channels=m.in_channels, image_size=m.image_size, space=space, class_names=class_names
    )
    training = {
        "repa": None,
        **config_to_dict(config),
        "step": step,
        **({"run_id": run_id} if run_id else {}),
    }
    for key in ("model", "format_version"):
        training.pop(key)
    model_type = (PatchForcingT2I if isinstance(m, TextModelConfig) else PatchForcingDiT).model_type
    return ModelMeta(model_type, dict(vars(m)), data, training=training)


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    config: TrainConfig,
    model: Weights,
    ema: Weights,
    train_state: dict[str, Any],
    keep: int,
    class_names: tuple[str, ...] = (),
    run_id: str = "",
    text_encoder: dict[str, Any] | None = None,
) -> Path:
    """Write ``run_dir/checkpoints/step_XXXXXXXX`` atomically and keep the newest ``keep`` of them
    (with ``text_encoder``, the JSON description of a text-to-image model's encoder).

    A failed write of any kind (no space, quota, read-only folder, I/O error; whatever torch or
    safetensors raise for it) raises :class:`DiskWriteError` naming the previous checkpoint, which
    is left untouched."""
    folder = Path(run_dir) / "checkpoints"
    meta = checkpoint_meta(config, step, class_names, run_id)

    def fill(tmp: Path) -> None:
        (tmp / "config.json").write_text(meta_to_json(meta))
        (tmp / "train_config.json").write_text(config_to_json(config))
        if text_encoder is not None:
            (tmp / TEXT_ENCODER_FILE).write_text(json.dumps(text_encoder, indent=2) + "\n")
        write_weights(model, tmp / "model.safetensors", step=str(step))
        write_weights(ema, tmp / "ema.safetensors", step=str(step))
        parameters = sum(
            t.numel() for t in (ema if isinstance(ema, dict) else ema.state_dict()).values()
        )
        (tmp / "README.md").write_text(
            model_card(meta, f"{Path(run_dir).name} step {step}", parameters)
        )
        torch.save(
            {**train_state, "step": step, "format_version": FORMAT_VERSION}, tmp / "train_state.pt"
        )

    target = folder / checkpoint_name(step)
    previous = latest_checkpoint(run_dir)
    try:
        path = atomic_directory(
            target, fill, "checkpoint", replace=True
        )  # a damaged one of this step is replaced
        for old in list_checkpoints(run_dir)[:-keep]:
            _prune(old)
        clean_temporaries(folder)
    except OSError as err:  # DiskWriteError included
        kept = (
            f"the previous checkpoint {previous} is intact"
            if previous
            else "no earlier checkpoint exists"
        )
        raise DiskWriteError("checkpoint", target, err, kept) from err
    return path


def _prune(checkpoint: Path) -> None:
    """Delete an old checkpoint: the whole folder when it holds only what :func:`save_checkpoint`
    writes, else only those files, leaving (and naming) the rest with the folder."""
    others = sorted(p.name for p in checkpoint.iterdir() if p.name not in CHECKPOINT_WRITES)
    if not others:
        remove_directory(checkpoint)
        return
    for name in CHECKPOINT_WRITES:
        (checkpoint / name).unlink(missing_ok=True)
    print(
        f"note: pruned checkpoint {checkpoint} but kept the folder: it holds files training did "
        f"not write ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''})",
        file=sys.stderr,
    )


def read_config(path: str | Path) -> TrainConfig:
    """A TrainConfig JSON file (a run's config.json, a checkpoint's train_config.json)."""
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"cannot read checkpoint config {path}: {err}") from err
    try:
        return config_from_dict(values)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"invalid checkpoint config {path}: {err}") from err


def read_train_config(folder: str | Path) -> TrainConfig:
    """The TrainConfig of a checkpoint folder (train_config.json, or config.json in
    older checkpoints)."""
    folder = Path(folder)
    path = folder / "train_config.json"
    return read_config(path if path.is_file() else folder / "config.json")


def load_train_state(folder: Path, model: nn.Module, ema: nn.Module) -> dict[str, Any]:
    """Restore online and EMA weights in place and return the saved train state."""
    load_state_dict_checked(model, read_weights(folder / "model.safetensors"), str(folder))
    load_state_dict_checked(ema, read_weights(folder / "ema.safetensors"), str(folder))
    return _read_train_state(folder)


def recorded_train_seconds(folder: Path) -> float | None:
    """The training-loop seconds a checkpoint's steps took, summed over resumes (None when the run
    started or resumed before checkpoints recorded them)."""
    seconds = _read_train_state(folder).get("train_seconds")
    return None if seconds is None else float(seconds)


def _read_train_state(folder: Path) -> dict[str, Any]:
    path = folder / "train_state.pt"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types on damaged files (pickle, zip, EOF)
        raise CheckpointError(f"cannot read {path}: {err}") from err
    check_format_version(state.get("format_version", FORMAT_VERSION), path, FORMAT_VERSION)
    return state
