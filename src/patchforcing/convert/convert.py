"""Write an authors' checkpoint as our shareable folder (config.json + ema.safetensors), the layout
``patchforcing export`` writes and :func:`~patchforcing.train.load_model` reads, or load it directly."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from patchforcing.convert.authors import authors_model_config, map_authors_state, read_authors_file
from patchforcing.data import DataConfig
from patchforcing.io.atomic import atomic_directory
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.train.checkpoint import LoadedModel, load_state_dict_checked
from patchforcing.train.config import FORMAT_VERSION, TrainConfig, config_to_json

__all__ = ["authors_train_config", "convert_authors_checkpoint", "load_authors_model"]


def authors_train_config(model: ModelConfig, out_dir: str) -> TrainConfig:
    """The run config recorded with a converted model: SD-VAE latents of ImageNet, bf16 (SPEC.md section 3)."""
    return TrainConfig(model=model, data=DataConfig(source="imagenet-sd-vae-latents"), out_dir=out_dir,
                       precision="bf16")


def _read(source: str | Path, num_heads: int | None, trust_pickle: bool) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    state, stored = read_authors_file(source, trust_pickle)
    model = authors_model_config(state, stored, num_heads)
    return model, map_authors_state(state, model)


def convert_authors_checkpoint(source: str | Path, destination: str | Path, num_heads: int | None = None,
                               trust_pickle: bool = False) -> Path:
    """Check every tensor, then write ``destination/{config.json, ema.safetensors}`` atomically."""
    model_config, state = _read(source, num_heads, trust_pickle)
    config = authors_train_config(model_config, str(destination))
    load_state_dict_checked(PatchForcingDiT(model_config), state, str(source))  # proves the folder will load

    def fill(tmp: Path) -> None:
        (tmp / "config.json").write_text(config_to_json(config))
        save_file(state, str(tmp / "ema.safetensors"), metadata={"format_version": str(FORMAT_VERSION),
                                                                  "converted_from": Path(source).name})

    return atomic_directory(destination, fill)


def load_authors_model(path: str | Path, device: torch.device | str = "cpu", num_heads: int | None = None,
                       trust_pickle: bool = False) -> LoadedModel:
    """An authors' file loaded straight into our model (EMA weights, eval mode)."""
    model_config, state = _read(path, num_heads, trust_pickle)
    model = PatchForcingDiT(model_config)
    load_state_dict_checked(model, state, str(path))
    return LoadedModel(model=model.to(device).eval(), config=authors_train_config(model_config, str(path)),
                       path=Path(path))
