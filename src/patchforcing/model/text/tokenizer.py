"""The built-in text encoder: a word vocabulary whose ids the text model embeds and trains itself.

Prompts are lower-cased and split on anything that is not a letter or a digit (any script), so
``"Red  heart!"`` is ``["red", "heart"]``. Id 0 is the null text (never given to a real token), id 1
``<bos>`` opens every prompt (the empty prompt is just ``<bos>``, a real token distinct from the
null text), id 2 stands for words outside the vocabulary, and the words follow by count
(most frequent first), ties by the word itself, so the same captions always give the
same vocabulary.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from patchforcing.core.condition import TextCondition

__all__ = [
    "NULL_TOKEN",
    "BOS_TOKEN",
    "UNK_TOKEN",
    "SPECIAL_TOKENS",
    "WordTokenizer",
    "check_prompts",
]

NULL_TOKEN, BOS_TOKEN, UNK_TOKEN = "<null>", "<bos>", "<unk>"
SPECIAL_TOKENS = (NULL_TOKEN, BOS_TOKEN, UNK_TOKEN)
_WORD = re.compile(r"[^\W_]+")  # runs of unicode letters and digits


def check_prompts(prompts: Sequence[str]) -> list[str]:
    """``prompts`` as a list, or a TypeError naming the first entry that is not a string."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a sequence of strings, got one string; wrap it in a list")
    items = list(prompts)
    for i, prompt in enumerate(items):
        if not isinstance(prompt, str):
            raise TypeError(f"prompt {i} must be a string, got {type(prompt).__name__}")
    return items


@dataclass(frozen=True)
class WordTokenizer:
    """Word ids for prompts; ``max_length`` counts positions including ``<bos>``."""

    vocab: tuple[str, ...]
    max_length: int = 32

    def __post_init__(self) -> None:
        if tuple(self.vocab[:3]) != SPECIAL_TOKENS:
            raise ValueError(
                f"a vocabulary starts with {SPECIAL_TOKENS}, got {tuple(self.vocab[:3])}"
            )
        if len(set(self.vocab)) != len(self.vocab):
            raise ValueError("the vocabulary lists a word twice")
        for word in self.vocab[3:]:
            if not isinstance(word, str) or self.words(word) != [word]:
                raise ValueError(f"vocabulary entry {word!r} is not one lower-case word")
        if (
            isinstance(self.max_length, bool)
            or not isinstance(self.max_length, int)
            or self.max_length < 2
        ):
            raise ValueError(
                "max_length must be a whole number >= 2 (<bos> and one word), got "
                f"{self.max_length!r}"
            )

    @classmethod
    def build(
        cls, captions: Iterable[str], min_count: int = 1, max_length: int = 32
    ) -> WordTokenizer:
        """The vocabulary of the words seen at least ``min_count`` times in ``captions``."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a whole number >= 1, got {min_count!r}")
        counts: Counter[str] = Counter()
        for caption in check_prompts(captions if isinstance(captions, str) else list(captions)):
            counts.update(cls.words(caption))
        kept = sorted(
            (w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls(SPECIAL_TOKENS + tuple(kept), max_length)

    @staticmethod
    def words(text: str) -> list[str]:
        """Lower-case words (letters and digits of any script) of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        return _WORD.findall(text.lower())

    @cached_property
    def _index(self) -> dict[str, int]:
        return {word: i for i, word in enumerate(self.vocab)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def kind(self) -> str:
        return "builtin"

    @property
    def feature_dim(self) -> int | None:
        """None: the encoder gives token ids, embedded by the model."""
        return None

    def ids(self, prompt: str) -> list[int]:
        """``<bos>`` then the word ids of ``prompt``, truncated to ``max_length``."""
        unk = self._index[UNK_TOKEN]
        words = self.words(prompt)[: self.max_length - 1]
        return [self._index[BOS_TOKEN]] + [self._index.get(w, unk) for w in words]

    def unknown_words(self, prompts: Sequence[str]) -> list[str]:
        """The words of ``prompts`` outside the vocabulary (read as ``<unk>``), each once, in the
        order they first appear."""
        found = (w for p in check_prompts(prompts) for w in self.words(p) if w not in self._index)
        return list(dict.fromkeys(found))

    def encode(self, prompts: Sequence[str], device: torch.device | str = "cpu") -> TextCondition:
        """Token ids (B, L) padded with the null id to the longest prompt of the batch."""
        rows = [self.ids(p) for p in check_prompts(prompts)]
        if not rows:
            raise ValueError("no prompts to encode")
        length = max(len(r) for r in rows)
        tokens = torch.zeros(len(rows), length, dtype=torch.long)  # (B, L)
        mask = torch.zeros(len(rows), length, dtype=torch.bool)  # (B, L)
        for i, row in enumerate(rows):
            tokens[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = True
        return TextCondition(tokens.to(device), mask.to(device))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "max_length": self.max_length, "vocab": list(self.vocab)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WordTokenizer:
        if not isinstance(data, dict) or data.get("kind", "builtin") != "builtin":
            raise ValueError(f"not a built-in tokenizer description: {str(data)[:80]!r}")
        vocab, max_length = data.get("vocab"), data.get("max_length", 32)
        if not isinstance(vocab, list) or not all(isinstance(w, str) for w in vocab):
            raise ValueError("a tokenizer description needs 'vocab', a list of strings")
        return cls(tuple(vocab), max_length)
