"""The method's ground floor: the per-patch flow path, the training time distributions, conditions,
the Patch Forcing loss and the model protocol the loss and the samplers are typed against."""

from patchforcing.core.condition import Condition, TextCondition
from patchforcing.core.loss import LossOutput, patch_forcing_loss
from patchforcing.core.path import (
    broadcast_patches,
    interpolate,
    patchify,
    pool_patches,
    sample_path,
    unpatchify,
)
from patchforcing.core.protocol import ModelOutput, PatchModel, PatchModelConfig

__all__ = [
    "Condition",
    "TextCondition",
    "LossOutput",
    "patch_forcing_loss",
    "broadcast_patches",
    "interpolate",
    "patchify",
    "pool_patches",
    "sample_path",
    "unpatchify",
    "ModelOutput",
    "PatchModel",
    "PatchModelConfig",
]
