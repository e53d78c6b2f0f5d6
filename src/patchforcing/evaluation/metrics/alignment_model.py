"""A small contrastive image-text model, trained here on a data set's captions, that scores how well
images match prompts.

Two towers map into one ``embed_dim`` space, each output L2-normalised:

- images (B, C, H, W) in [-1, 1]: the residual body of
  :mod:`patchforcing.evaluation.metrics.resnet`, then a linear projection;
- prompts: the word ids of a :class:`~patchforcing.model.text.WordTokenizer` (``<bos>`` first), a
  token embedding plus learned positions, a few pre-norm transformer layers over the real tokens
  (the padding is masked), the mean over the real tokens, then a linear projection.

A learned temperature scales the cosine similarities into logits, ``exp(logit_scale)`` clamped to
[1, 100] as CLIP does. The vocabulary is part of the model (its rows are the embedding table), so
the tokenizer lives in the config and is written into ``config.json`` with the weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from patchforcing.core.condition import TextCondition
from patchforcing.evaluation.metrics.resnet import resnet_body
from patchforcing.model.pretrained import DataSpec, ModelMeta, PretrainedMixin
from patchforcing.model.text import WordTokenizer
from patchforcing.utils.limits import check_limit

__all__ = ["ImageTextConfig", "ImageTextModel", "load_image_text_model", "SHIPPED_IMAGE_TEXT"]

SHIPPED_IMAGE_TEXT = "emoji-clip"
MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp of the learned temperature


@dataclass(frozen=True)
class ImageTextConfig:
    tokenizer: WordTokenizer
    image_size: int = 32
    in_channels: int = 3
    embed_dim: int = 128
    image_widths: tuple[int, ...] = (16, 32, 64)  # one residual stage per width
    text_width: int = 128
    text_depth: int = 2
    text_heads: int = 4

    def __post_init__(self) -> None:
        if not isinstance(self.tokenizer, WordTokenizer):
            raise ValueError(
                f"an image-text config needs a WordTokenizer, got {type(self.tokenizer).__name__}"
            )
        if self.image_size < 8 or self.in_channels not in (1, 3):
            raise ValueError(
                "image-text config needs image_size >= 8 and 1 or 3 channels, got "
                f"{self.image_size}, {self.in_channels}"
            )
        if (
            not self.image_widths
            or min(self.image_widths) < 1
            or min(self.embed_dim, self.text_depth) < 1
        ):
            raise ValueError(f"image-text config needs positive widths and depth, got {self}")
        if self.text_width % self.text_heads:
            raise ValueError(
                f"text_width {self.text_width} must be a multiple of text_heads {self.text_heads}"
            )
        sizes = {
            "image_size": (self.image_size, "image_size"),
            "embed_dim": (self.embed_dim, "width"),
            "image_widths": (max(self.image_widths), "width"),
            "text_width": (self.text_width, "width"),
            "text_depth": (self.text_depth, "depth"),
            "max_text_length": (self.max_text_length, "width"),
        }
        for name, (value, limit) in sizes.items():
            check_limit(
                f"image-text config: {name}", value, limit
            )  # a config.json may ask for any size

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @property
    def max_text_length(self) -> int:
        return self.tokenizer.max_length


class TextTower(nn.Module):
    """Word ids (B, L) with mask -> (B, text_width): embeddings + positions, pre-norm transformer
    layers with the padding masked, mean over the real tokens."""

    def __init__(self, config: ImageTextConfig) -> None:
        super().__init__()
        width = config.text_width
        self.embed = nn.Embedding(config.vocab_size, width)
        self.pos = nn.Parameter(torch.randn(config.max_text_length, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width,
            config.text_heads,
            4 * width,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, config.text_depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens) + self.pos[: tokens.shape[1]]  # (B, L, W)
        h = self.norm(self.layers(h, src_key_padding_mask=~mask))  # (B, L, W)
        weights = mask.to(h.dtype)[:, :, None]  # (B, L, 1)
        return (h * weights).sum(1) / weights.sum(1)  # (B, W)


class ImageTextModel(PretrainedMixin):
    """Embeds images and prompts into one space (unit vectors); ``forward`` gives the scaled
    similarity logits (B_images, B_texts)."""

    model_type: ClassVar[str] = "patchforcing-clip"

    @classmethod
    def config_from_architecture(cls, values: dict[str, Any]) -> ImageTextConfig:
        return ImageTextConfig(
            **{
                **values,
                "tokenizer": WordTokenizer.from_json(values["tokenizer"]),
                "image_widths": tuple(values["image_widths"]),
            }
        )

    def data_spec(self, class_names: tuple[str, ...] = ()) -> DataSpec:
        return DataSpec(
            channels=self.config.in_channels,
            image_size=self.config.image_size,
            class_names=class_names,
        )

    def make_meta(
        self,
        training: dict[str, Any] | None = None,
        quality: dict[str, Any] | None = None,
        class_names: tuple[str, ...] = (),
    ) -> ModelMeta:
        meta = super().make_meta(training, quality, class_names)
        return replace(
            meta, architecture={**meta.architecture, "tokenizer": self.config.tokenizer.to_json()}
        )

    def __init__(self, config: ImageTextConfig) -> None:
        super().__init__()
        self.config = config
        self.image_body = resnet_body(config.in_channels, config.image_widths)
        self.image_proj = nn.Linear(config.image_widths[-1], config.embed_dim)
        self.text = TextTower(config)
        self.text_proj = nn.Linear(config.text_width, config.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    @property
    def tokenizer(self) -> WordTokenizer:
        return self.config.tokenizer

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def scale(self) -> torch.Tensor:
        """exp(logit_scale), clamped to [1, 100]."""
        return self.logit_scale.clamp(0.0, MAX_LOGIT_SCALE).exp()

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Unit vectors (B, embed_dim) of images (B, C, H, W) in [-1, 1]."""
        c = self.config
        if images.dim() != 4 or tuple(images.shape[1:]) != (
            c.in_channels,
            c.image_size,
            c.image_size,
        ):
            raise ValueError(
                f"the image-text model expects images (B, {c.in_channels}, {c.image_size}, "
                f"{c.image_size}), got {tuple(images.shape)}"
            )
        h = self.image_body(images.to(self.device, torch.float32))  # (B, widths[-1])
        return F.normalize(self.image_proj(h), dim=-1)  # (B, D)

    def embed_text(self, text: TextCondition) -> torch.Tensor:
        """Unit vectors (B, embed_dim) of word ids from this model's tokenizer."""
        tokens, mask = text.tokens.to(self.device), text.mask.to(self.device)
        if tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(
                f"the image-text model takes word ids (B, L), got {tokens.dtype} "
                f"{tuple(tokens.shape)}"
            )
        if text.length > self.config.max_text_length:
            raise ValueError(
                f"prompts of {text.length} tokens exceed the model's {self.config.max_text_length}"
            )
        if int(tokens.max()) >= self.config.vocab_size or not bool(mask.any(1).all()):
            raise ValueError(
                "text ids must come from this model's tokenizer (ids below its vocabulary size, "
                "at least one real token per prompt)"
            )
        return F.normalize(self.text_proj(self.text(tokens, mask)), dim=-1)  # (B, D)

    def embed_prompts(self, prompts: Sequence[str]) -> torch.Tensor:
        """Unit vectors (T, embed_dim) of prompts, through this model's tokenizer."""
        return self.embed_text(self.tokenizer.encode(prompts, self.device))

    def forward(self, images: torch.Tensor, text: TextCondition) -> torch.Tensor:
        return (
            self.scale() * self.embed_images(images) @ self.embed_text(text).T
        )  # (B_images, B_texts)


def load_image_text_model(
    name: str | Path = SHIPPED_IMAGE_TEXT, device: torch.device | str = "cpu"
) -> ImageTextModel:
    """An image-text model folder (or the shipped name ``emoji-clip``), in eval mode, frozen."""
    return ImageTextModel.from_pretrained(name, device=device).requires_grad_(False)
