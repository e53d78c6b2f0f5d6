"""In-memory image datasets: uint8 images plus integer labels (and optional captions), served as
floats in [-1, 1].

Captions are one tuple of alternative texts per image (a name, a short name, a description, ...);
:meth:`CaptionsMixin.caption_batch` draws one alternative per image, uniformly, with the generator
it is given, so a seed reproduces the batch of texts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from patchforcing.utils.io.pixels import from_model_range, to_model_range

__all__ = [
    "Captions",
    "ArrayData",
    "CaptionsMixin",
    "ImageArrays",
    "check_captions",
    "to_model_range",
    "from_model_range",
]  # pixel helpers re-exported

Captions = tuple[
    tuple[str, ...], ...
]  # one tuple of alternative captions per image, or () for none


class ArrayData(Protocol):
    """What training, validation and the analyses read from a dataset: :class:`ImageArrays` and
    :class:`~patchforcing.data.latents.LatentArrays` (encoded latents) serve it the same way."""

    @property
    def class_names(self) -> tuple[str, ...]: ...

    @property
    def skipped(self) -> tuple[str, ...]: ...

    @property
    def num_classes(self) -> int: ...

    @property
    def channels(self) -> int: ...

    @property
    def image_size(self) -> int: ...

    def __len__(self) -> int: ...

    @property
    def captions(self) -> Captions:
        """One tuple of alternative captions per image, or () for none."""
        ...

    @property
    def has_captions(self) -> bool: ...

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Model inputs (B, C, H, W) and labels (B,) for the given indices."""
        ...

    def caption_batch(
        self, index: torch.Tensor, generator: torch.Generator | None = None
    ) -> list[str]:
        """One caption per index (B,), an alternative drawn uniformly with ``generator``."""
        ...


def check_captions(captions: Captions, count: int) -> None:
    """``captions`` must be empty or hold, for each of ``count`` images, a non-empty tuple of
    non-empty strings."""
    if not isinstance(captions, tuple):
        raise ValueError(
            f"captions must be a tuple (one tuple of alternatives per image), "
            f"got {type(captions).__name__}"
        )
    if captions and len(captions) != count:
        raise ValueError(
            f"captions must give one tuple of alternatives per image: {count} images, "
            f"{len(captions)} caption tuples"
        )
    for i, alternatives in enumerate(captions):
        if (
            not isinstance(alternatives, tuple)
            or not alternatives
            or not all(isinstance(text, str) and text.strip() for text in alternatives)
        ):
            raise ValueError(
                f"captions of image {i} must be a non-empty tuple of non-empty strings, "
                f"got {alternatives!r}"
            )


class CaptionsMixin:
    """Caption access for a dataset class with a ``captions`` field (checked by
    :func:`check_captions`)."""

    captions: Captions

    @property
    def has_captions(self) -> bool:
        return bool(self.captions)

    def caption_batch(
        self, index: torch.Tensor, generator: torch.Generator | None = None
    ) -> list[str]:
        """One caption per index of the 1-D ``index`` (B,): an alternative of that image drawn
        uniformly with ``generator`` (a CPU generator; the same seed gives the same texts)."""
        if not self.captions:
            raise ValueError(
                "this dataset has no captions; give each image a caption (a .txt file beside it or "
                "a captions.jsonl in the folder) or train with class labels"
            )
        if index.dim() != 1:
            raise ValueError(
                f"caption_batch takes a 1-D index (B,), got shape {tuple(index.shape)}"
            )
        rows = index.tolist()
        counts = torch.tensor([len(self.captions[i]) for i in rows], dtype=torch.float64)  # (B,)
        draw = torch.rand(len(rows), generator=generator, dtype=torch.float64)  # (B,) in [0, 1)
        choice = (draw * counts).long().tolist()  # uniform in [0, count)
        return [self.captions[i][c] for i, c in zip(rows, choice)]


@dataclass(frozen=True)
class ImageArrays(CaptionsMixin):
    """A whole dataset in memory: images (M, C, H, W) uint8, labels (M,) int64 in [0, num_classes).

    ``skipped`` lists the files the loader left out under the ``skip`` bad-file policy, one
    ``"path: reason"`` each, so the caller can report them and their count. ``captions`` is empty
    or holds one tuple of alternative captions per image."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...] = field(default_factory=tuple)
    skipped: tuple[str, ...] = field(default_factory=tuple)
    captions: Captions = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise ValueError(
                f"images must be uint8 of shape (M, C, H, W), "
                f"got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.images.shape[1] not in (1, 3):
            raise ValueError(f"images must have 1 or 3 channels, got {self.images.shape[1]}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must have shape ({self.images.shape[0]},), got {tuple(self.labels.shape)}"
            )
        if len(self) == 0:
            raise ValueError("the dataset is empty")
        if self.labels.min() < 0 or (
            self.class_names and self.labels.max() >= len(self.class_names)
        ):
            raise ValueError(
                f"labels must lie in [0, {self.num_classes}) to match the {self.num_classes} class "
                f"names, got [{int(self.labels.min())}, {int(self.labels.max())}]"
            )
        check_captions(self.captions, len(self))

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.class_names else int(self.labels.max()) + 1

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images in [-1, 1] (B, C, H, W) and labels (B,) for the given indices."""
        return to_model_range(self.images[index]), self.labels[index]

    @classmethod
    def from_numpy(
        cls,
        images: np.ndarray,
        labels: np.ndarray,
        class_names: tuple[str, ...] = (),
        skipped: tuple[str, ...] = (),
        captions: Captions = (),
    ) -> ImageArrays:
        return cls(
            torch.from_numpy(np.array(images, dtype=np.uint8, copy=True)),
            torch.from_numpy(labels.astype(np.int64)),
            class_names,
            skipped,
            captions,
        )
