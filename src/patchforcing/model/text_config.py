"""Typed configuration of the text-to-image model and its named presets (SPEC.md section 6)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from patchforcing.core.path import check_patchable
from patchforcing.model.base import PatchGrid, check_common_fields
from patchforcing.utils.limits import check_limit

__all__ = ["TextModelConfig", "TEXT_PRESETS", "text_model_config_from_preset"]

_POSITIVE = (
    "image_size",
    "in_channels",
    "patch_size",
    "depth",
    "width",
    "num_heads",
    "mapping_width",
    "mapping_layers",
    "refiner_width",
    "refiner_depth",
    "refiner_heads",
    "max_text_length",
    "frequency_dim",
)
_LIMITS = (
    ("depth", "depth"),
    ("refiner_depth", "depth"),
    ("mapping_layers", "depth"),
    ("width", "width"),
    ("mapping_width", "width"),
    ("refiner_width", "width"),
    ("frequency_dim", "width"),
    ("text_feature_dim", "width"),
    ("image_size", "image_size"),
)


@dataclass(frozen=True)
class TextModelConfig(PatchGrid):
    """Everything needed to build a :class:`~patchforcing.model.PatchForcingT2I`.

    Exactly one of ``text_vocab_size`` (the built-in word tokenizer: the model embeds its ids) and
    ``text_feature_dim`` (hidden states of a frozen pretrained encoder) is above 0. ``mapping_*`` is
    the network from a token's time to its adaLN conditioning; ``refiner_*`` the transformer over
    the text tokens that the image blocks attend to. ``num_classes`` is always 0: the null condition
    of a text model is the null text, and generic code that reads the field works unchanged.
    """

    image_size: int = 32
    in_channels: int = 3
    patch_size: int = 4
    depth: int = 6
    width: int = 192
    num_heads: int = 6
    mlp_ratio: float = 4.0
    mapping_width: int = 64
    mapping_layers: int = 2
    refiner_width: int = 192
    refiner_depth: int = 2
    refiner_heads: int = 6
    text_vocab_size: int = 0
    text_feature_dim: int = 0
    max_text_length: int = 32
    time_mode: str = "patch"
    difficulty_head: bool = True
    frequency_dim: int = 256

    def __post_init__(self) -> None:
        for name in _POSITIVE:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"text model config: {name} must be a positive integer, got {value!r}"
                )
        for name in ("text_vocab_size", "text_feature_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(
                    f"text model config: {name} must be an integer >= 0, got {value!r}"
                )
        if (self.text_vocab_size > 0) == (self.text_feature_dim > 0):
            raise ValueError(
                "text model config: set exactly one of text_vocab_size (built-in tokenizer) and "
                f"text_feature_dim (pretrained encoder), got {self.text_vocab_size} and "
                f"{self.text_feature_dim}"
            )
        check_patchable(self.image_size, self.image_size, self.patch_size)
        for width, heads, multiple, what in (
            (self.width, self.num_heads, 4, "image (2-D rotary)"),
            (self.refiner_width, self.refiner_heads, 2, "refiner (1-D rotary)"),
        ):
            if width % heads or (width // heads) % multiple:
                raise ValueError(
                    f"text model config: {what} width {width} must split into {heads} heads of a "
                    f"size divisible by {multiple}"
                )
        check_common_fields("text model config", self.frequency_dim, self.mlp_ratio, self.time_mode)
        if not isinstance(self.difficulty_head, bool):
            raise ValueError(
                "text model config: difficulty_head must be true or false, got "
                f"{self.difficulty_head!r}"
            )
        for name, limit in _LIMITS:
            check_limit(f"text model config: {name}", getattr(self, name), limit)
        check_limit("text model config: parameters", self.parameter_count, "parameters")

    @property
    def num_classes(self) -> int:
        """0: no class labels (the null condition is the null text)."""
        return 0

    @property
    def parameter_count(self) -> int:
        """Parameters of the model this config builds, counted without building it."""
        D, M, R, p = self.width, self.mapping_width, self.refiner_width, self.patch_size
        hidden, refiner_hidden = int(D * self.mlp_ratio), int(R * self.mlp_ratio)
        patch = self.in_channels * p * p * D + D
        mapping = self.frequency_dim * M + M + (self.mapping_layers - 1) * (M * M + M)
        E = self.text_feature_dim
        text = self.text_vocab_size * R if self.text_vocab_size else 2 * E + E * R + R
        refiner_block = (
            2 * R + 4 * R * R + 4 * R + 2 * R + 2 * R * refiner_hidden + refiner_hidden + R
        )
        refiner = self.refiner_depth * refiner_block + 2 * R
        self_attention = 4 * D * D + 4 * D
        cross_attention = D * D + D + 2 * R * D + 2 * D + D * D + D
        mlp = 2 * D * hidden + hidden + D
        block = self_attention + cross_attention + mlp + M * 9 * D + 9 * D
        final = M * 2 * D + 2 * D + D * p * p * self.out_channels + p * p * self.out_channels
        return patch + mapping + text + refiner + self.depth * block + final


# Named sizes. Image size, channels and the text encoder (vocabulary or feature size) come from the
# data and the encoder, except in "T2I-1.2B", the paper's model on 4-channel 32x32 SD-VAE latents of
# 256px images with 2048-d hidden states of a frozen language model.
TEXT_PRESETS: dict[str, dict[str, Any]] = {
    "T2I-T/2": dict(
        depth=2,
        width=32,
        num_heads=2,
        patch_size=2,
        mapping_width=32,
        refiner_width=32,
        refiner_depth=1,
        refiner_heads=2,
    ),
    "T2I-T/4": dict(
        depth=4,
        width=128,
        num_heads=4,
        patch_size=4,
        mapping_width=64,
        refiner_width=128,
        refiner_depth=1,
        refiner_heads=4,
    ),
    "T2I-S/4": dict(
        depth=6,
        width=192,
        num_heads=6,
        patch_size=4,
        mapping_width=64,
        refiner_width=192,
        refiner_depth=2,
        refiner_heads=6,
    ),
    "T2I-1.2B": dict(
        depth=28,
        width=1536,
        num_heads=16,
        patch_size=2,
        mapping_width=384,
        mapping_layers=2,
        refiner_width=1536,
        refiner_depth=2,
        refiner_heads=16,
        image_size=32,
        in_channels=4,
        text_feature_dim=2048,
        max_text_length=256,
    ),
}


def text_model_config_from_preset(preset: str, **overrides: Any) -> TextModelConfig:
    """A preset plus overrides (image_size, in_channels, text_vocab_size or
    text_feature_dim, ...)."""
    if preset not in TEXT_PRESETS:
        raise ValueError(
            f"unknown text model preset {preset!r}; choose one of {sorted(TEXT_PRESETS)}"
        )
    known = {f.name for f in fields(TextModelConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown text model config field(s) {unknown}; known: {sorted(known)}")
    return TextModelConfig(**{**TEXT_PRESETS[preset], **overrides})
