"""Checkpoints: one folder per step, written atomically, holding

    config.json        the resolved TrainConfig (with format_version)
    model.safetensors  online weights
    ema.safetensors    EMA weights (used for sampling)
    train_state.pt     optimizer, scheduler, step and RNG state

A folder ``checkpoints/step_XXXXXXXX`` exists only once complete; interrupted writes (SIGKILL, a full
disk) leave a hidden temporary that is ignored and cleaned up, and older checkpoints are pruned only
after the new one is in place. Files from a newer ``format_version`` are refused.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from patchforcing.io.atomic import DiskWriteError, atomic_directory, remove_directory
from patchforcing.shipped import SHIPPED, shipped_path
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.train.config import FORMAT_VERSION, TrainConfig, config_from_dict, config_to_json

__all__ = ["CheckpointError", "LoadedModel", "save_checkpoint", "list_checkpoints", "latest_checkpoint",
           "read_config", "load_state_dict_checked", "load_model", "load_train_state", "resolve_checkpoint"]

_STEP_PREFIX = "step_"
_FILES = ("config.json", "model.safetensors", "ema.safetensors", "train_state.pt")


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not fit the model."""


@dataclass(frozen=True)
class LoadedModel:
    model: PatchForcingDiT
    config: TrainConfig
    path: Path


Weights = nn.Module | dict[str, torch.Tensor]  # a module, or its full state dict (gathered from FSDP shards)


def _state(weights: Weights) -> dict[str, torch.Tensor]:
    state = weights if isinstance(weights, dict) else weights.state_dict()
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}


def save_checkpoint(run_dir: str | Path, step: int, config: TrainConfig, model: Weights, ema: Weights,
                    train_state: dict[str, Any], keep: int) -> Path:
    """Write ``run_dir/checkpoints/step_XXXXXXXX`` atomically and keep the newest ``keep`` of them.

    A failed write (``OSError``: no space, read-only folder) raises :class:`DiskWriteError` naming the
    previous checkpoint, which is left untouched."""
    folder = Path(run_dir) / "checkpoints"
    meta = {"format_version": str(FORMAT_VERSION), "step": str(step)}

    def fill(tmp: Path) -> None:
        (tmp / "config.json").write_text(config_to_json(config))
        save_file(_state(model), str(tmp / "model.safetensors"), metadata=meta)
        save_file(_state(ema), str(tmp / "ema.safetensors"), metadata=meta)
        torch.save({**train_state, "step": step, "format_version": FORMAT_VERSION}, tmp / "train_state.pt")

    target = folder / f"{_STEP_PREFIX}{step:08d}"
    previous = latest_checkpoint(run_dir)
    try:
        path = atomic_directory(target, fill)
        for old in list_checkpoints(run_dir)[:-keep]:
            remove_directory(old)
    except OSError as err:
        kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
        raise DiskWriteError("checkpoint", target, err, kept) from err
    for stale in folder.glob(f".{_STEP_PREFIX}*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    return path


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoint folders (all four files present), oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(_STEP_PREFIX)
                  and all((p / name).is_file() for name in _FILES))


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def read_config(path: str | Path) -> TrainConfig:
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"cannot read checkpoint config {path}: {err}") from err
    try:
        return config_from_dict(values)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"invalid checkpoint config {path}: {err}") from err


def load_state_dict_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load weights, naming the first missing, unexpected or mis-shaped tensor on mismatch."""
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            raise CheckpointError(f"{source}: missing tensor {name!r} (shape {tuple(tensor.shape)})")
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{source}: tensor {name!r} has shape {tuple(state[name].shape)}, "
                                  f"the model expects {tuple(tensor.shape)}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(f"{source}: unexpected tensor {extra[0]!r} (the model has no such parameter)")
    model.load_state_dict(state)


def _check_version(version: object, path: Path) -> None:
    """Refuse files written by a newer patchforcing rather than misreading them."""
    try:
        number = int(str(version))
    except ValueError:
        raise CheckpointError(f"{path} has an invalid format_version {version!r}") from None
    if number > FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {number}, newer than this patchforcing "
                              f"supports ({FORMAT_VERSION}); upgrade patchforcing")


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        _check_version(meta.get("format_version", FORMAT_VERSION), path)
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"cannot read weights {path}: {err}") from err


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder (its newest checkpoint), a checkpoint folder, a folder with config + weights, or
    the name of a shipped checkpoint (``fmnist-pf``, ``fmnist-global``) when no such path exists."""
    path = Path(path)
    if str(path) in SHIPPED and not path.exists():
        path = shipped_path(str(path))
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.is_dir() and (path / "checkpoints").is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"run folder {path} holds no complete checkpoint yet")
        return latest
    if path.is_dir() and not (path / "config.json").is_file():
        raise CheckpointError(f"{path} holds neither config.json nor checkpoints/step_*")
    if path.is_file():
        raise CheckpointError(f"{path} is a file: pass the folder holding config.json and the .safetensors weights")
    return path


def _check_expected(expect: ModelConfig | None, config: TrainConfig, source: Path) -> None:
    if expect is not None and expect != config.model:
        diff = [f"{k}: checkpoint {v!r} vs requested {getattr(expect, k)!r}"
                for k, v in vars(config.model).items() if getattr(expect, k) != v]
        raise CheckpointError(f"checkpoint {source} does not match the requested model ({'; '.join(diff)})")


def load_model(path: str | Path, use_ema: bool = True, expect: ModelConfig | None = None,
               device: torch.device | str = "cpu") -> LoadedModel:
    """Build the model a checkpoint describes and load its (EMA) weights, in eval mode. ``path`` may also
    be the authors' released file (a torch file with their EMA weights and config)."""
    if Path(path).is_file():
        from patchforcing.convert import load_authors_model

        loaded = load_authors_model(path, device)
        _check_expected(expect, loaded.config, loaded.path)
        return loaded
    folder = resolve_checkpoint(path)
    config = read_config(folder / "config.json")
    _check_expected(expect, config, folder)
    names = ["ema.safetensors", "model.safetensors"] if use_ema else ["model.safetensors"]
    weights = next((folder / n for n in names if (folder / n).is_file()), None)
    if weights is None:
        raise CheckpointError(f"{folder} has no weights file ({' or '.join(names)})")
    model = PatchForcingDiT(config.model)
    load_state_dict_checked(model, _read_weights(weights), str(weights))
    return LoadedModel(model=model.to(device).eval(), config=config, path=folder)


def load_train_state(folder: Path, model: nn.Module, ema: nn.Module) -> dict[str, Any]:
    """Restore online and EMA weights in place and return the saved train state."""
    load_state_dict_checked(model, _read_weights(folder / "model.safetensors"), str(folder))
    load_state_dict_checked(ema, _read_weights(folder / "ema.safetensors"), str(folder))
    path = folder / "train_state.pt"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types on damaged files (pickle, zip, EOF)
        raise CheckpointError(f"cannot read {path}: {err}") from err
    _check_version(state.get("format_version", FORMAT_VERSION), path)
    return state
