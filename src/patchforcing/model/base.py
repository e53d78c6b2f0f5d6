"""What the class-conditional and the text-to-image model share: the patch grid of their configs,
the input checks of image and time, the buffer scope of their no-grad gathers, their model-folder
description, and the initialisation of their linear layers and patch embedding."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from patchforcing.model.conditioning import GatherBuffer
from patchforcing.model.embed import PatchEmbed
from patchforcing.model.pretrained import DataSpec

__all__ = ["TIME_MODES", "PatchGrid", "check_common_fields", "PatchGenerator", "init_linears"]

TIME_MODES = ("patch", "global")


class PatchGrid:
    """Properties of a model config with ``image_size``, ``patch_size``, ``in_channels`` and
    ``difficulty_head`` fields."""

    image_size: int
    patch_size: int
    in_channels: int
    difficulty_head: bool

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def out_channels(self) -> int:
        return self.in_channels + int(self.difficulty_head)

    def check_image_and_time(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Shapes of x (B, C, H, W) and t (B,) or (B, N) against the config; returns t as (B, N)."""
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"expected x of shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}"
            )
        B, N = x.shape[0], self.num_patches
        if t.dim() == 1:
            t = t[:, None].expand(-1, N)
        if tuple(t.shape) != (B, N):
            raise ValueError(f"expected t of shape ({B},) or ({B}, {N}), got {tuple(t.shape)}")
        return t


def check_common_fields(what: str, frequency_dim: int, mlp_ratio: float, time_mode: str) -> None:
    """The checks every model config makes of these fields; ``what`` names the config
    in messages."""
    if frequency_dim % 2:
        raise ValueError(f"{what}: frequency_dim must be even, got {frequency_dim}")
    if not (isinstance(mlp_ratio, (int, float)) and math.isfinite(mlp_ratio) and mlp_ratio > 0):
        raise ValueError(f"{what}: mlp_ratio must be a finite number > 0, got {mlp_ratio!r}")
    if time_mode not in TIME_MODES:
        raise ValueError(f"{what}: time_mode must be one of {TIME_MODES}, got {time_mode!r}")


class PatchGenerator:
    """Mixed into both models (whose ``config`` is a :class:`PatchGrid`): ``reuse_buffers()`` for
    their no-grad gathers of per-token modulation, and the data spec and patch layout of their
    model folder."""

    config: Any
    _gather_buffer: GatherBuffer | None = None

    def data_spec(self, class_names: tuple[str, ...] = ()) -> DataSpec:
        c = self.config
        return DataSpec(channels=c.in_channels, image_size=c.image_size, class_names=class_names)

    def layout(self) -> dict[str, Any]:
        c = self.config
        return {
            "patches": {
                "size": c.patch_size,
                "grid": [c.grid_size, c.grid_size],
                "order": "row-major",
            },
            "outputs": {
                "velocity_channels": c.in_channels,
                "logvar_channels": int(c.difficulty_head),
            },
        }

    @contextmanager
    def reuse_buffers(self) -> Iterator[None]:
        """Scope in which no-grad forwards that gather per-token modulation (the gathered layout)
        share one buffer (freed on exit; a nested scope keeps the outer one). Forwards with
        gradients never use it. The buffer belongs to this model instance: do not run forwards of
        one model from several threads at once inside the scope."""
        if self._gather_buffer is not None:
            yield
            return
        self._gather_buffer = GatherBuffer()
        try:
            yield
        finally:
            self._gather_buffer = None


def init_linears(model: nn.Module, patches: PatchEmbed) -> None:
    """DiT initialisation of every linear layer (xavier, zero bias) and of the patch embedding."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    w = patches.proj.weight
    nn.init.xavier_uniform_(w.view(w.shape[0], -1))
    if patches.proj.bias is not None:
        nn.init.zeros_(patches.proj.bias)
