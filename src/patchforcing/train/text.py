"""Captions to text conditions for text-to-image training.

Each step draws one caption alternative per image with its own generator (a function of seed and
step, apart from the one that draws times and noise), so a resumed run sees the same texts. The
built-in encoder's vocabulary is built from every caption of the training set, in a fixed order, so
the same data gives the same vocabulary on any machine. A pretrained encoder's hidden states are
computed once for every distinct caption (cached on disk) and gathered per batch.
"""

from __future__ import annotations

from pathlib import Path

import torch

from patchforcing.core.condition import TextCondition
from patchforcing.data import ArrayData
from patchforcing.model.text import PretrainedTextEncoder, TextEncoder, WordTokenizer, encode_cached
from patchforcing.train.config import TextConfig

__all__ = ["build_text_encoder", "caption_generator", "CaptionConditions", "preview_prompts"]

_CAPTION_STREAM = 7_919  # keeps the caption draws apart from the step's noise / time generator


def _captions(data: ArrayData) -> list[str]:
    if not data.has_captions:
        raise ValueError(
            "text-to-image training needs captions: use --data emoji, or give each image of a "
            "folder a .txt caption file beside it (or a captions.jsonl)"
        )
    return [text for alternatives in data.captions for text in alternatives]


def build_text_encoder(config: TextConfig, data: ArrayData) -> TextEncoder:
    """The run's encoder: the word tokenizer of the training captions, or the frozen
    pretrained model."""
    captions = _captions(data)
    if config.encoder == "builtin":
        return WordTokenizer.build(captions, config.min_count, config.max_length)
    assert config.pretrained_path is not None  # TextConfig checks it
    return PretrainedTextEncoder(config.pretrained_path, config.layer, config.max_length)


def caption_generator(seed: int, step: int) -> torch.Generator:
    """The CPU generator that picks the caption alternatives of one step's global batch."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * _CAPTION_STREAM % 2**64)


class CaptionConditions:
    """``conditions(index, generator, device, rows)`` -> the TextCondition of ``index[rows]``: the
    alternatives are drawn for all of ``index`` (a global batch, so every data-parallel rank draws
    the same texts) and only this rank's ``rows`` are encoded."""

    def __init__(
        self, encoder: TextEncoder, data: ArrayData, cache_dir: str | Path | None = None
    ) -> None:
        self.encoder, self.data = encoder, data
        self.table: TextCondition | None = None
        self.table_row: dict[str, int] = {}  # caption -> its row of the table
        if encoder.kind == "pretrained":
            texts = sorted(set(_captions(data)))
            self.table_row = {text: i for i, text in enumerate(texts)}
            self.table = encode_cached(
                encoder, texts, cache_dir or Path.home() / ".cache" / "patchforcing" / "text"
            )

    def __call__(
        self,
        index: torch.Tensor,
        generator: torch.Generator,
        device: torch.device | str,
        rows: slice = slice(None),
    ) -> TextCondition:
        captions = self.data.caption_batch(index, generator)[rows]  # one alternative per image
        if self.table is None:
            return self.encoder.encode(captions, device)
        picked = self.table[torch.tensor([self.table_row[text] for text in captions])]  # B rows
        length = int(picked.mask.sum(dim=1).max())  # drop the padding no row of this batch needs
        return TextCondition(picked.tokens[:, :length], picked.mask[:, :length]).to(device)


def preview_prompts(data: ArrayData, count: int) -> tuple[str, ...]:
    """``count`` training captions spread over the data set (its first alternative), for
    preview grids."""
    captions = data.captions
    step = max(len(captions) // count, 1)
    return tuple(captions[i][0] for i in range(0, len(captions), step))[:count]
