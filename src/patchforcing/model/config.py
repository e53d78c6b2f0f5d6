"""Typed model configuration and the named size presets."""

from __future__ import annotations

from dataclasses import dataclass, replace

from patchforcing.core.path import check_patchable
from patchforcing.model.base import TIME_MODES, PatchGrid, check_common_fields
from patchforcing.utils.limits import check_limit

__all__ = ["ModelConfig", "PRESETS", "model_config_from_preset", "TIME_MODES"]


@dataclass(frozen=True)
class ModelConfig(PatchGrid):
    """Everything needed to build a :class:`~patchforcing.model.PatchForcingDiT`.

    ``time_mode="patch"`` with ``difficulty_head=True`` is Patch Forcing; ``time_mode="global"``
    with ``difficulty_head=False`` is the SiT-style baseline on the same backbone.
    """

    image_size: int = 28
    in_channels: int = 1
    patch_size: int = 4
    depth: int = 6
    width: int = 192
    num_heads: int = 3
    mlp_ratio: float = 4.0
    num_classes: int = 10
    time_mode: str = "patch"
    difficulty_head: bool = True
    frequency_dim: int = 256

    def __post_init__(self) -> None:
        for name in (
            "image_size",
            "in_channels",
            "patch_size",
            "depth",
            "width",
            "num_heads",
            "frequency_dim",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"model config: {name} must be a positive integer, got {value!r}")
        if not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(
                f"model config: num_classes must be an integer >= 0, got {self.num_classes!r}"
            )
        check_patchable(self.image_size, self.image_size, self.patch_size)
        if self.width % self.num_heads:
            raise ValueError(
                f"model config: width {self.width} is not divisible by num_heads {self.num_heads}"
            )
        if (self.width // self.num_heads) % 2 or self.width % 4:
            raise ValueError(
                f"model config: width {self.width} must be a multiple of 4 with an even head size"
            )
        check_common_fields("model config", self.frequency_dim, self.mlp_ratio, self.time_mode)
        self._check_size()

    def _check_size(self) -> None:
        """Limits (:mod:`patchforcing.utils.limits`) before anything is allocated: a config.json of
        another origin may ask for any size."""
        for name, limit in (
            ("depth", "depth"),
            ("width", "width"),
            ("frequency_dim", "width"),
            ("image_size", "image_size"),
            ("num_classes", "classes"),
        ):
            check_limit(f"model config: {name}", getattr(self, name), limit)
        check_limit("model config: parameters", self.parameter_count, "parameters")

    @property
    def parameter_count(self) -> int:
        """Parameters of the model this config builds, counted without building it."""
        D, p, hidden, head = (
            self.width,
            self.patch_size,
            int(self.width * self.mlp_ratio),
            self.patch_size**2,
        )
        embed = (
            self.in_channels * p * p * D
            + D
            + self.frequency_dim * D
            + D
            + D * D
            + D
            + (self.num_classes + 1) * D
        )
        block = 3 * D * D + 3 * D + D * D + D + 2 * D * hidden + hidden + D + 6 * D * D + 6 * D
        final = D * head * self.out_channels + head * self.out_channels + 2 * D * D + 2 * D
        return embed + self.depth * block + final


# Backbone sizes (depth, width, heads, patch). Image size, channels and classes come from the data.
PRESETS: dict[str, dict[str, int]] = {
    "T/4": dict(depth=4, width=128, num_heads=4, patch_size=4),
    "S/4": dict(depth=6, width=192, num_heads=3, patch_size=4),
    "S/2": dict(depth=6, width=192, num_heads=3, patch_size=2),
    "B/2": dict(depth=12, width=768, num_heads=12, patch_size=2),
    "L/2": dict(depth=24, width=1024, num_heads=16, patch_size=2),
    "XL/2": dict(depth=28, width=1152, num_heads=16, patch_size=2),
}


def model_config_from_preset(preset: str, **overrides) -> ModelConfig:
    """A preset's backbone plus overrides (image_size, in_channels, num_classes, time_mode, ...)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose one of {sorted(PRESETS)}")
    return replace(ModelConfig(), **{**PRESETS[preset], **overrides})
