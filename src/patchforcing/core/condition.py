"""What a model is conditioned on: class labels (B,) or encoded text (:class:`TextCondition`).

Samplers, the loss and guidance never look inside a condition: they pass it to the model, make its
null version for classifier-free guidance, replace dropped rows by it in training, and stack two of
them for a doubled batch, through the three functions here. That is the whole sampler contract for
both model kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

__all__ = [
    "TextCondition",
    "Condition",
    "PromptEncoder",
    "null_condition",
    "drop_condition",
    "cat_conditions",
    "text_encoder_of",
]


@dataclass(frozen=True)
class TextCondition:
    """Encoded prompts for a text-conditioned model.

    ``tokens`` is (B, L) int64 token ids for an encoder trained with the model, or (B, L, E) float
    hidden states of a frozen encoder; ``mask`` (B, L) bool is True at real tokens. Position 0 is
    real in every row, so attention always has a key. The null text (dropped prompt) is one token of
    id 0 (or a zero vector) at position 0 and nothing else; encoders never give a real token id 0.
    """

    tokens: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self) -> None:
        t, m = self.tokens, self.mask
        ids = t.dim() == 2 and t.dtype == torch.long
        if not (ids or (t.dim() == 3 and t.is_floating_point())):
            raise ValueError(
                f"text tokens must be (B, L) int64 ids or (B, L, E) float features, got {t.dtype} "
                f"{tuple(t.shape)}"
            )
        if m.dtype != torch.bool or tuple(m.shape) != tuple(t.shape[:2]):
            raise ValueError(
                f"text mask must be bool of shape {tuple(t.shape[:2])}, got {m.dtype} "
                f"{tuple(m.shape)}"
            )
        if t.shape[1] < 1:
            raise ValueError("text conditions need at least one token position")

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def length(self) -> int:
        return self.tokens.shape[1]

    def null(self) -> TextCondition:
        """The null text for every row, with this condition's shape, dtype and device."""
        mask = torch.zeros_like(self.mask)
        mask[:, 0] = True
        return TextCondition(torch.zeros_like(self.tokens), mask)

    def padded(self, length: int) -> TextCondition:
        """The same prompts padded (id 0 / zero vector, mask False) to ``length`` positions."""
        extra = length - self.length
        if extra < 0:
            raise ValueError(f"cannot pad {self.length} text positions to {length}")
        if extra == 0:
            return self
        pad = self.tokens.new_zeros((len(self), extra, *self.tokens.shape[2:]))
        mask = torch.cat([self.mask, self.mask.new_zeros(len(self), extra)], dim=1)  # (B, length)
        return TextCondition(torch.cat([self.tokens, pad], dim=1), mask)

    def where(self, drop: torch.Tensor, other: TextCondition) -> TextCondition:
        """Rows of ``other`` where ``drop`` (B,) is True, this condition's rows elsewhere."""
        length = max(self.length, other.length)
        a, b = self.padded(length), other.padded(length)
        keep = drop.view(-1, *([1] * (a.tokens.dim() - 1)))
        return TextCondition(
            torch.where(keep, b.tokens, a.tokens), torch.where(drop[:, None], b.mask, a.mask)
        )

    def to(self, device: torch.device | str) -> TextCondition:
        return TextCondition(self.tokens.to(device), self.mask.to(device))

    def __getitem__(self, index: slice | torch.Tensor) -> TextCondition:
        return TextCondition(self.tokens[index], self.mask[index])

    @staticmethod
    def cat(conditions: list[TextCondition]) -> TextCondition:
        """Stack along the batch, padding to the longest."""
        length = max(c.length for c in conditions)
        padded = [c.padded(length) for c in conditions]
        return TextCondition(
            torch.cat([c.tokens for c in padded]), torch.cat([c.mask for c in padded])
        )


Condition = torch.Tensor | TextCondition  # (B,) int64 class labels, or encoded prompts


def null_condition(y: Condition, num_classes: int) -> Condition:
    """The unconditional input for every row of ``y``: the null label ``num_classes`` or the
    null text."""
    return y.null() if isinstance(y, TextCondition) else torch.full_like(y, num_classes)


def drop_condition(y: Condition, drop: torch.Tensor, num_classes: int) -> Condition:
    """``y`` with the rows where ``drop`` (B,) is True replaced by the null condition."""
    if isinstance(y, TextCondition):
        return y.where(drop, y.null())
    return torch.where(drop, torch.full_like(y, num_classes), y)


def cat_conditions(first: Condition, second: Condition) -> Condition:
    """Two conditions stacked along the batch (the doubled batch of guidance)."""
    if isinstance(first, TextCondition) and isinstance(second, TextCondition):
        return TextCondition.cat([first, second])
    if isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor):
        return torch.cat([first, second])
    raise TypeError("cannot stack class labels with text conditions")


class PromptEncoder(Protocol):
    """What generation needs of a text encoder: prompts in, a condition for the model out."""

    def encode(
        self, prompts: Sequence[str], device: torch.device | str = "cpu"
    ) -> TextCondition: ...


def text_encoder_of(model: Any) -> PromptEncoder | None:
    """The text encoder a text-to-image model was trained with (``model.text_encoder()``); None for
    a class-conditional model."""
    method = getattr(model, "text_encoder", None)
    return method() if callable(method) else None
