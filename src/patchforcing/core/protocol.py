"""The interface samplers, losses, generation and analyses type against: anything called like a
Patch Forcing model (the class or text model, a DDP / FSDP / compiled wrapper of it, a test double),
its output, and the config fields they read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from patchforcing.core.condition import Condition
from patchforcing.core.path import patch_difficulty

__all__ = ["ModelOutput", "PatchModel", "PatchModelConfig"]


@dataclass(frozen=True)
class ModelOutput:
    """Velocity and, for Patch Forcing models, the per-pixel log-variance of its error."""

    v: torch.Tensor  # (B, C, H, W)
    logvar: torch.Tensor | None  # (B, 1, H, W), None without a difficulty head

    @classmethod
    def split(cls, out: torch.Tensor, channels: int, difficulty_head: bool) -> ModelOutput:
        """The network's (B, C + 1, H, W) or (B, C, H, W) output as velocity and log-variance."""
        v, logvar = out[:, :channels], out[:, channels:] if difficulty_head else None
        if (
            torch.compiler.is_compiling()
        ):  # compiled graphs that return views of one output replay them with
            v, logvar = (
                v.clone(),
                None if logvar is None else logvar.clone(),
            )  # corrupt sizes (torch 2.13, CPU)
        return cls(v=v, logvar=logvar)

    def difficulty(self, patch_size: int) -> torch.Tensor:
        """Per-patch difficulty: mean of exp(logvar) over each p x p patch, (B, N)."""
        if self.logvar is None:
            raise ValueError("this model has no difficulty head")
        return patch_difficulty(self.logvar, patch_size)


class PatchModelConfig(Protocol):
    """The config fields every model kind has (its patch grid, time mode and label count)."""

    @property
    def image_size(self) -> int: ...

    @property
    def patch_size(self) -> int: ...

    @property
    def in_channels(self) -> int: ...

    @property
    def difficulty_head(self) -> bool: ...

    @property
    def time_mode(self) -> str: ...

    @property
    def num_classes(self) -> int: ...

    @property
    def grid_size(self) -> int: ...

    @property
    def num_patches(self) -> int: ...


@runtime_checkable
class PatchModel(Protocol):
    """What samplers, losses and generation need of a model: its ``config`` (patch grid, time
    mode) and ``model(x, t, y) -> ModelOutput`` with x (B, C, H, W), t (B,) or (B, N) in [0, 1]
    and y labels (B,) or a :class:`TextCondition`."""

    @property
    def config(self) -> PatchModelConfig:
        """Read-only here, so a wrapper may expose the wrapped model's config as a property."""
        ...

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: Condition) -> ModelOutput:
        """x (B, C, H, W), t (B,) or (B, N) in [0, 1], y (B,) labels or a TextCondition -> velocity
        and log-variance."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...
