"""One interface for the text encoders of the text-to-image model, and rebuilding one from its JSON.

An encoder turns prompts into a :class:`~patchforcing.core.condition.TextCondition`: token ids of
the built-in :class:`~patchforcing.model.text.WordTokenizer` (``kind="builtin"``, embedded and
trained with the model) or hidden states of a frozen Hugging Face model (``kind="pretrained"``,
:class:`~patchforcing.model.text.pretrained.PretrainedTextEncoder`). ``to_json()`` is what a model
folder stores (``text_encoder.json``) to rebuild it with :func:`encoder_from_json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from patchforcing.core.condition import TextCondition
from patchforcing.model.text.pretrained import PretrainedTextEncoder
from patchforcing.model.text.tokenizer import WordTokenizer

__all__ = ["TextEncoder", "ENCODER_KINDS", "encoder_from_json"]

ENCODER_KINDS = ("builtin", "pretrained")


@runtime_checkable
class TextEncoder(Protocol):
    @property
    def kind(self) -> str:
        """ "builtin" (token ids, embedded by the model) or "pretrained" (frozen hidden states)."""
        ...

    @property
    def feature_dim(self) -> int | None:
        """Size E of the (B, L, E) features; None for token ids."""
        ...

    @property
    def vocab_size(self) -> int:
        """Ids the model embeds (0 for features)."""
        ...

    @property
    def max_length(self) -> int:
        """Most token positions of one prompt."""
        ...

    def encode(
        self, prompts: Sequence[str], device: torch.device | str = "cpu"
    ) -> TextCondition: ...

    def to_json(self) -> dict[str, Any]: ...


def encoder_from_json(
    data: dict[str, Any],
    device: torch.device | str = "cpu",
    *,
    model_folder: str | Path | None = None,
    encoder_folder: str | Path | None = None,
) -> TextEncoder:
    """The encoder a ``to_json()`` dict describes; a pretrained one is loaded onto ``device`` from
    ``encoder_folder`` when given, else from the first folder holding it (the recorded path, beside
    or inside ``model_folder``, the hub cache; :mod:`patchforcing.model.text.locate`)."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "builtin":
        return WordTokenizer.from_json(data)
    if kind == "pretrained":
        return PretrainedTextEncoder.from_json(
            data, device, model_folder=model_folder, encoder_folder=encoder_folder
        )
    raise ValueError(f"unknown text encoder kind {kind!r}; expected one of {ENCODER_KINDS}")
