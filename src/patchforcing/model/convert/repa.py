"""The authors' REPA checkpoints (``REPAPatchForcingDiT``): the model plus its ``projector``.

Their REPA variant adds ``projector.{0,2,4}.{weight,bias}`` (D -> 2048 -> 2048 -> z_dim, SiLU
between) to the Patch Forcing state dict and stores ``encoder_depth`` / ``z_dim`` /
``projector_dim`` in its config. Sampling never uses the projector, so the converter takes the model
tensors as for any checkpoint and, by default, drops the projector; ``convert --keep-projector
FILE`` writes it to a safetensors file of its own (the state dict of
:class:`~patchforcing.model.repa.RepaProjector`, which loads it unchanged). Either way the model
folder's ``training.repa`` records that the weights were trained with REPA, the aligned block and
the projector's shape.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from patchforcing.model.pretrained import CheckpointError, ModelMeta, write_weights
from patchforcing.model.repa import RepaProjector

__all__ = ["PREFIX", "split_projector", "repa_meta", "check_projector_file", "write_projector"]

PREFIX = "projector."


def split_projector(
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """(the model's tensors, the projector's with the prefix removed; None without one)."""
    model = {k: v for k, v in state.items() if not k.startswith(PREFIX)}
    projector = {k.removeprefix(PREFIX): v for k, v in state.items() if k.startswith(PREFIX)}
    if projector:
        try:
            RepaProjector.from_state(projector)  # every tensor present, with matching shapes
        except (ValueError, RuntimeError) as err:
            raise CheckpointError(
                f"authors' checkpoint: a REPA projector that does not fit: {err}"
            ) from err
    return model, projector or None


def repa_meta(
    meta: ModelMeta,
    projector: dict[str, torch.Tensor] | None,
    config: dict[str, Any],
    kept: str | Path | None = None,
) -> ModelMeta:
    """``meta`` with ``training.repa``: null for a checkpoint without a projector, else the aligned
    block (the file's ``encoder_depth``; the authors' default 8), the projector's shape and where it
    went (``kept`` the file it was written to, else "dropped")."""
    record = None
    if projector is not None:
        hidden, width = projector["0.weight"].shape
        record = {
            "depth": int(config.get("encoder_depth", 8)),
            "projector_dim": int(hidden),
            "z_dim": int(projector["4.weight"].shape[0]),
            "width": int(width),
            "projector": str(kept) if kept is not None else "dropped",
        }
    return replace(meta, training={**meta.training, "repa": record})


def check_projector_file(path: str | Path) -> None:
    """Refuse to write the projector over an existing file."""
    if Path(path).exists():
        raise FileExistsError(f"--keep-projector: {path} exists; name a new file")


def write_projector(projector: dict[str, torch.Tensor] | None, path: str | Path) -> Path:
    """Write the projector's tensors to ``path`` (a new file), refused for a checkpoint without a
    projector or over an existing file."""
    path = Path(path)
    if projector is None:
        raise CheckpointError(
            "--keep-projector: the authors' checkpoint has no REPA projector (projector.*)"
        )
    check_projector_file(path)
    write_weights({k: v.float() for k, v in projector.items()}, path)
    return path
