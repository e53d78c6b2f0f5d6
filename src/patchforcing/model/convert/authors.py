"""The authors' released checkpoints -> our format (SPEC.md section 2).

Their file is a torch pickle holding a dict with the EMA ``state_dict`` (under ``ema``; ``model`` or
``state_dict`` are accepted too) and the model ``config``. Their module layout is DiT's, and ours
was named after it, so every tensor keeps its name: ``x_embedder.proj``, ``t_embedder.mlp.{0,2}``,
``y_embedder.embedding_table`` (1000 classes + null row), ``pos_embed`` (1, 256, D),
``blocks.i.{attn.qkv, attn.proj, mlp.fc1, mlp.fc2, adaLN_modulation.1}``,
``final_layer.{linear, adaLN_modulation.1}``. The output layer's rows are ordered (p1, p2, c) with
c = 4 latent channels then 1 log-variance channel, which is our unpatchify order, so no tensor is
permuted. Wrapper prefixes (``module.`` from DDP, ``_orig_mod.`` from torch.compile) are dropped.
What the converter adds is checking: every expected tensor present with its exact shape, nothing
left over, and the inferred config consistent with the stored one.

The authors' plain DiT/SiT baselines (and SiT's own release) share the layout without the difficulty
head; they convert to our global-time model (``time_mode="global"``, no head). The output layer
tells them apart, per pixel: C + 1 channels is Patch Forcing, C a velocity model, 2C a
``learn_sigma`` model (SiT's default), whose forward keeps only the first C channels, so the
converter keeps those rows and drops the rest. (With C = 1, 2 channels are read as Patch Forcing
unless the stored config says ``learn_sigma``.) The weights do not say what a model was trained to
predict: only rectified-flow velocity models on this project's time convention (the authors'
baselines; SiT with its linear path and velocity target) sample correctly; facebookresearch/DiT's
DDPM checkpoints map but are not flow models.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from patchforcing.model import PRESETS, ModelConfig, PatchForcingDiT
from patchforcing.model.embed import sincos_pos_embed_2d
from patchforcing.model.pretrained import CheckpointError

__all__ = [
    "AuthorsFile",
    "open_authors_file",
    "read_authors_file",
    "authors_model_config",
    "mapped_shapes",
    "map_authors_state",
]

_WEIGHT_KEYS = ("ema", "state_dict", "model")
_PREFIXES = ("module.", "_orig_mod.")
# their config names -> ours, checked against the shapes when present
_CONFIG_NAMES = {
    "depth": "depth",
    "hidden_size": "width",
    "num_heads": "num_heads",
    "patch_size": "patch_size",
    "in_channels": "in_channels",
    "num_classes": "num_classes",
    "input_size": "image_size",
    "mlp_ratio": "mlp_ratio",
}


@dataclass(frozen=True)
class AuthorsFile:
    """What a checkpoint file holds: the state dict with wrapper prefixes removed, the flattened
    stored config (empty when there is none) and the entry the weights were read from (``ema``,
    ``state_dict`` or ``model``; None for a bare state dict)."""

    state: dict[str, torch.Tensor]
    config: dict[str, Any]
    entry: str | None


def read_authors_file(
    path: str | Path, trust_pickle: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict with wrapper prefixes removed, flattened config) of an authors' file: what
    :func:`open_authors_file` reads, without the entry the weights came from."""
    file = open_authors_file(path, trust_pickle)
    return file.state, file.config


def open_authors_file(path: str | Path, trust_pickle: bool = False) -> AuthorsFile:
    """The weights, stored config and weight entry of an authors' (or plain DiT/SiT) file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"authors' checkpoint {path} does not exist")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path} holds Python objects beyond tensors and plain containers; if you trust "
            f"the file, pass --trust-pickle ({str(err).splitlines()[0]})"
        ) from err
    except Exception as err:  # torch.load raises many types on damaged files (zip, EOF, pickle)
        raise CheckpointError(f"cannot read {path}: {err}") from err
    if not isinstance(raw, Mapping):
        raise CheckpointError(
            f"{path} holds a {type(raw).__name__}, not a dict with 'ema' weights and a 'config'"
        )
    key = next((k for k in _WEIGHT_KEYS if isinstance(raw.get(k), Mapping)), None)
    weights = raw[key] if key else raw
    state = {}
    for name, tensor in weights.items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(
                f"{path}: found no weights under {' / '.join(_WEIGHT_KEYS)} "
                f"(top-level keys {sorted(map(str, raw))[:8]})"
            )
        for prefix in _PREFIXES:
            name = name.removeprefix(prefix)
        state[name] = tensor
    config = raw.get("config", {}) if key else {}
    return AuthorsFile(
        state, _flatten(vars(config) if hasattr(config, "__dict__") else config), key
    )


def _flatten(config: Any) -> dict[str, Any]:
    """Nested config mappings -> one level (first occurrence of each name wins)."""
    flat: dict[str, Any] = {}
    if isinstance(config, Mapping):
        for name, value in config.items():
            for sub, inner in (
                _flatten(value).items() if isinstance(value, Mapping) else [(name, value)]
            ):
                flat.setdefault(str(sub), inner)
    return flat


def _shape(state: dict[str, torch.Tensor], name: str) -> tuple[int, ...]:
    if name not in state:
        raise CheckpointError(
            f"authors' checkpoint: missing tensor {name!r}; is this a Patch Forcing / DiT "
            "checkpoint?"
        )
    return tuple(state[name].shape)


def authors_model_config(
    state: dict[str, torch.Tensor], config: dict[str, Any], num_heads: int | None = None
) -> ModelConfig:
    """Our ModelConfig, inferred from the tensor shapes and checked against the stored config."""
    width, channels, patch, _ = _shape(state, "x_embedder.proj.weight")
    depth = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("blocks.")), default=-1)
    if depth == 0:
        raise CheckpointError("authors' checkpoint: no transformer blocks (blocks.0...) found")
    patch_forcing = _has_difficulty_head(
        _shape(state, "final_layer.linear.weight")[0], patch, channels, config
    )
    tokens = _shape(state, "pos_embed")[1] if "pos_embed" in state else None
    grid = round(tokens**0.5) if tokens else None
    inferred: dict[str, Any] = {
        "depth": depth,
        "width": width,
        "patch_size": patch,
        "in_channels": channels,
        "num_classes": _shape(state, "y_embedder.embedding_table.weight")[0] - 1,
        "image_size": grid * patch if grid else config.get("input_size"),
        "mlp_ratio": _shape(state, "blocks.0.mlp.fc1.weight")[0] / width,
        "frequency_dim": _shape(state, "t_embedder.mlp.0.weight")[1],
    }
    for theirs, ours in _CONFIG_NAMES.items():
        if (
            theirs in config
            and ours in inferred
            and inferred[ours] is not None
            and config[theirs] != inferred[ours]
        ):
            raise CheckpointError(
                f"authors' checkpoint: config {theirs}={config[theirs]!r} but the weights "
                f"imply {inferred[ours]!r}"
            )
    if inferred["image_size"] is None:
        raise CheckpointError(
            "authors' checkpoint: neither pos_embed nor config input_size gives the latent size"
        )
    presets = [
        p["num_heads"] for p in PRESETS.values() if (p["depth"], p["width"]) == (depth, width)
    ]
    heads = num_heads or config.get("num_heads") or (presets[0] if presets else None)
    if heads is None:
        raise CheckpointError(
            f"authors' checkpoint: depth {depth} / width {width} matches no preset and the "
            f"config has no num_heads; pass --num-heads"
        )
    try:
        return ModelConfig(
            num_heads=int(heads),
            time_mode="patch" if patch_forcing else "global",
            difficulty_head=patch_forcing,
            **inferred,
        )
    except ValueError as err:
        raise CheckpointError(f"authors' checkpoint: {err}") from err


def _has_difficulty_head(rows: int, patch: int, channels: int, config: dict[str, Any]) -> bool:
    """Whether an output layer of ``rows`` rows is Patch Forcing's (C + 1 channels per pixel) rather
    than a baseline's (C, or 2C with learn_sigma); anything else is an error."""
    per_pixel = rows / (patch * patch)
    learn_sigma = per_pixel == 2 * channels and (channels > 1 or bool(config.get("learn_sigma")))
    if per_pixel == channels + 1 and not learn_sigma:
        return True
    if per_pixel == channels or learn_sigma:
        return False
    raise CheckpointError(
        f"authors' checkpoint: final_layer.linear has {rows} outputs, {per_pixel:g} per pixel "
        f"of a {patch}x{patch} patch; expected {channels + 1} (Patch Forcing: {channels} latent "
        f"channels and the log-variance), {channels} (a DiT/SiT velocity model) or {2 * channels} "
        f"(DiT/SiT with learn_sigma)"
    )


def _velocity_rows(tensor: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """A learn_sigma output layer's rows ((p1, p2, c) over 2C channels) cut to the C velocity
    channels its forward keeps: (p*p*2C, ...) -> (p*p*C, ...)."""
    p, C = config.patch_size, config.in_channels
    return tensor.reshape(p * p, 2 * C, *tensor.shape[1:])[:, :C].reshape(
        p * p * C, *tensor.shape[1:]
    )


def mapped_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor the converter takes from an authors' file of this config (built
    on the meta device: no memory, so full XL/2 tables are cheap)."""
    with torch.device("meta"):
        model = PatchForcingDiT(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def map_authors_state(
    state: dict[str, torch.Tensor], config: ModelConfig
) -> dict[str, torch.Tensor]:
    """Our float32 state dict from theirs; any missing, mis-shaped or unknown tensor is an error."""
    expected = mapped_shapes(config)
    out = {}
    if "pos_embed" not in state:  # a non-persistent buffer in some releases: fixed sin-cos, as ours
        state = {
            **state,
            "pos_embed": sincos_pos_embed_2d(config.width, config.grid_size, config.grid_size),
        }
    head = ("final_layer.linear.weight", "final_layer.linear.bias")
    if (
        not config.difficulty_head and _shape(state, head[0])[0] == 2 * expected[head[0]][0]
    ):  # learn_sigma
        state = {
            **state,
            **{name: _velocity_rows(state[name], config) for name in head if name in state},
        }
    for name, shape in expected.items():
        if _shape(state, name) != shape:
            raise CheckpointError(
                f"authors' checkpoint: tensor {name!r} has shape {_shape(state, name)}, "
                f"expected {shape} for {config.depth} blocks of width {config.width}"
            )
        out[name] = state[name].float().reshape(shape).contiguous()
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(
            f"authors' checkpoint: unexpected tensor {extra[0]!r} ({len(extra)} in all) that "
            f"this model has no place for"
        )
    return out
