"""Prompt alignment of generated images, in the space of an image-text model trained on the
data set.

For n images x_i made from prompts p_i, with unit embeddings e(x) and e(p):

- score: the mean of ``100 * max(cos(e(x_i), e(p_i)), 0)`` (the CLIPScore formula, here in our own
  model's space, so its values are comparable only between evaluations with the same model);
- retrieval top-k: each image ranks the distinct prompts of the whole evaluation by cosine; it is
  correct when its own prompt is among the k best. A tie counts against it, so a collapsed model
  scores 0; chance is about k / (number of distinct prompts);
- category accuracy (optional): the share of images a category classifier assigns to the category
  they were asked for.

Images arrive in batches (:class:`AlignmentAccumulator`); the retrieval needs every prompt of the
evaluation, so the image embeddings (n x D floats) are kept until
:meth:`~AlignmentAccumulator.compute`.
Under several processes each one scores its share and sends its :class:`AlignmentPart` to one that
merges them (:meth:`~AlignmentAccumulator.merge`): the same scores as one process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

__all__ = [
    "ImageTextEmbedder",
    "AlignmentResult",
    "AlignmentPart",
    "AlignmentAccumulator",
    "alignment_scores",
    "retrieval_ranks",
]


class ImageTextEmbedder(Protocol):
    """What the scores need of a model: unit embeddings of images and of prompts in one space."""

    def embed_images(self, images: torch.Tensor) -> torch.Tensor: ...  # (B, C, H, W) -> (B, D)

    def embed_prompts(self, prompts: Sequence[str]) -> torch.Tensor: ...  # T prompts -> (T, D)


@dataclass(frozen=True)
class AlignmentResult:
    clip_score: float  # mean of 100 * max(cos, 0), in the image-text model's space
    retrieval_top1: float
    retrieval_top5: float
    category_accuracy: float | None  # None without a category classifier
    count: int  # images scored
    num_prompts: int  # distinct prompts the images were ranked against


@dataclass(frozen=True)
class AlignmentPart:
    """What an accumulator holds, to send to another process: plain tensors, strings and numbers."""

    images: torch.Tensor  # (n, D) image embeddings
    prompts: tuple[str, ...]  # the prompt of each image
    texts: dict[str, torch.Tensor]  # prompt -> (D,) embedding, every prompt seen
    score_sum: float
    correct: int  # images the category classifier put in their category


def retrieval_ranks(
    images: torch.Tensor, texts: torch.Tensor, owner: torch.Tensor, chunk: int = 4096
) -> torch.Tensor:
    """For each image (n, D), how many texts (T, D) other than its own (index ``owner`` (n,)) are at
    least as similar to it as its own: 0 means retrieved first (ties count against it)."""
    ranks = []
    for start in range(0, images.shape[0], chunk):
        sims = images[start : start + chunk] @ texts.T  # (b, T)
        own = owner[start : start + chunk]
        mine = sims.gather(1, own[:, None])  # (b, 1)
        at_least = (sims >= mine).sum(1) - 1  # (b,) minus the own prompt
        ranks.append(at_least)
    return torch.cat(ranks)


class AlignmentAccumulator:
    """Scores of images fed in batches; ``classifier`` (logits over categories) adds category
    accuracy, and then every batch must come with its category labels."""

    def __init__(self, model: ImageTextEmbedder, classifier: nn.Module | None = None) -> None:
        self.model = model
        self.classifier = classifier
        self._images: list[torch.Tensor] = []  # (B, D) each, on the CPU
        self._owners: list[torch.Tensor] = []  # (B,) index into the distinct prompts
        self._texts: dict[str, torch.Tensor] = {}  # prompt -> (D,), in order of first appearance
        self._score_sum = 0.0
        self._correct = 0

    @property
    def count(self) -> int:
        return sum(x.shape[0] for x in self._images)

    @torch.no_grad()
    def update(
        self, images: torch.Tensor, prompts: Sequence[str], categories: torch.Tensor | None = None
    ) -> None:
        """Add a batch: images (B, C, H, W) in [-1, 1], the prompt each was made from, and (with a
        classifier) the category (B,) each was asked for."""
        prompts = list(prompts)
        if images.dim() != 4 or len(prompts) != images.shape[0]:
            raise ValueError(
                f"need images (B, C, H, W) and one prompt per image, got {tuple(images.shape)} and "
                f"{len(prompts)} prompts"
            )
        if (categories is None) != (self.classifier is None):
            raise ValueError(
                "category labels and a category classifier go together: pass both or neither"
            )
        new = [p for p in dict.fromkeys(prompts) if p not in self._texts]
        if new:
            self._texts.update(zip(new, self.model.embed_prompts(new).float().cpu()))
        index = {p: i for i, p in enumerate(self._texts)}
        image_emb = self.model.embed_images(images).float().cpu()  # (B, D)
        text_emb = torch.stack([self._texts[p] for p in prompts])  # (B, D)
        self._score_sum += float(
            (100.0 * (image_emb * text_emb).sum(1).clamp(min=0.0)).double().sum()
        )
        self._images.append(image_emb)
        self._owners.append(torch.tensor([index[p] for p in prompts], dtype=torch.long))
        if self.classifier is not None and categories is not None:
            if categories.shape != (images.shape[0],):
                raise ValueError(
                    f"categories must have shape ({images.shape[0]},), got "
                    f"{tuple(categories.shape)}"
                )
            device = next(self.classifier.parameters()).device
            predicted = self.classifier(images.to(device)).argmax(1).cpu()  # (B,)
            self._correct += int((predicted == categories.cpu()).sum())

    def part(self) -> AlignmentPart:
        """This accumulator's images and sums, for :meth:`merge` in another process."""
        names = list(self._texts)
        owners = torch.cat(self._owners).tolist() if self._owners else []
        images = torch.cat(self._images) if self._images else torch.zeros(0, 0)
        return AlignmentPart(
            images,
            tuple(names[i] for i in owners),
            dict(self._texts),
            self._score_sum,
            self._correct,
        )

    def merge(self, other: AlignmentPart) -> None:
        """Add the images another accumulator scored (its embeddings, not recomputed)."""
        if not other.prompts:
            return
        self._texts.update((p, e) for p, e in other.texts.items() if p not in self._texts)
        index = {p: i for i, p in enumerate(self._texts)}
        self._images.append(other.images)
        self._owners.append(torch.tensor([index[p] for p in other.prompts], dtype=torch.long))
        self._score_sum += other.score_sum
        self._correct += other.correct

    def compute(self) -> AlignmentResult:
        if not self._images:
            raise ValueError("no images were scored")
        n = self.count
        ranks = retrieval_ranks(
            torch.cat(self._images),
            torch.stack(list(self._texts.values())),
            torch.cat(self._owners),
        )
        return AlignmentResult(
            clip_score=self._score_sum / n,
            retrieval_top1=float((ranks < 1).double().mean()),
            retrieval_top5=float((ranks < 5).double().mean()),
            category_accuracy=self._correct / n if self.classifier is not None else None,
            count=n,
            num_prompts=len(self._texts),
        )


def alignment_scores(
    model: ImageTextEmbedder,
    images: torch.Tensor,
    prompts: Sequence[str],
    categories: torch.Tensor | None = None,
    classifier: nn.Module | None = None,
    batch_size: int = 256,
) -> AlignmentResult:
    """Scores of images (B, C, H, W) in [-1, 1] against the prompts they were made from
    (see the module doc)."""
    prompts = list(prompts)
    if images.dim() != 4 or len(prompts) != images.shape[0]:
        raise ValueError(
            f"need images (B, C, H, W) and one prompt per image, got {tuple(images.shape)} and "
            f"{len(prompts)} prompts"
        )
    acc = AlignmentAccumulator(model, classifier)
    for start in range(0, images.shape[0], batch_size):
        end = start + batch_size
        acc.update(
            images[start:end],
            prompts[start:end],
            None if categories is None else categories[start:end],
        )
    return acc.compute()
