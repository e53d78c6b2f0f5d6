"""The interface samplers, losses, generation and analyses type against: anything called like the
model with a :class:`ModelConfig` or :class:`TextModelConfig` (the model itself, a DDP / FSDP /
compiled wrapper of it, a test double)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from patchforcing.model.condition import Condition
from patchforcing.model.config import ModelConfig
from patchforcing.model.dit import ModelOutput
from patchforcing.model.text_config import TextModelConfig

__all__ = ["PatchModel"]


@runtime_checkable
class PatchModel(Protocol):
    @property
    def config(self) -> ModelConfig | TextModelConfig:
        """Read-only here, so a wrapper may expose the wrapped model's config as a property."""
        ...

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: Condition) -> ModelOutput:
        """x (B, C, H, W), t (B,) or (B, N) in [0, 1], y (B,) labels or a TextCondition -> velocity and log-variance."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...
