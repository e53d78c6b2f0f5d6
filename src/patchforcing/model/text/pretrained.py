"""A frozen Hugging Face model as text encoder (the ``[text]`` extra: ``transformers``).

The model and its tokenizer are read from a local folder only (``local_files_only``; nothing is
downloaded). Prompts are tokenized with right padding and truncated to ``max_length``; the hidden
states of ``layer`` (default: the last) are the (B, L, E) float32 features, zero at padding, with
the attention mask as the mask. A row without any token (an empty prompt, for tokenizers that add no
special tokens) keeps one token at position 0, the pad token, so the empty prompt stays a real
prompt distinct from the null text.

``to_json()`` records where the folder came from and what it holds (name, fingerprint, hub id,
path: :class:`~patchforcing.model.text.locate.EncoderRecord`), so a model folder finds its encoder
on another machine (:func:`~patchforcing.model.text.locate.locate_encoder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from patchforcing.core.condition import TextCondition
from patchforcing.model.text.locate import EncoderRecord, locate_encoder
from patchforcing.model.text.tokenizer import check_prompts

__all__ = ["DTYPES", "PretrainedTextEncoder", "require_transformers"]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def require_transformers() -> Any:
    """The ``transformers`` module, or an ImportError naming the extra to install."""
    try:
        import transformers
    except ImportError as err:
        raise ImportError(
            "pretrained text encoders need transformers: pip install 'patchforcing[text]'"
        ) from err
    return transformers


class PretrainedTextEncoder:
    """Hidden states of ``layer`` of the model in ``path`` (a folder written by
    ``save_pretrained``)."""

    kind = "pretrained"
    vocab_size = 0  # features, not ids

    def __init__(
        self,
        path: str | Path,
        layer: int = -1,
        max_length: int = 128,
        dtype: str = "float32",
        device: torch.device | str = "cpu",
    ) -> None:
        transformers = require_transformers()
        folder = Path(path).expanduser().resolve()
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"text encoder folder {path} not found or without config.json; pretrained "
                "encoders are read from a local folder (a model saved with save_pretrained)"
            )
        if dtype not in DTYPES:
            raise ValueError(f"text encoder dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(
                f"text encoder max_length must be a whole number >= 1, got {max_length!r}"
            )
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(folder), local_files_only=True
            )
            model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"cannot load a text encoder from {folder}: {err}") from err
        self.tokenizer.padding_side = "right"  # position 0 must be a real token in every row
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        encoder = (
            model.get_encoder() if getattr(model.config, "is_encoder_decoder", False) else model
        )
        self.model = encoder.to(device=device, dtype=DTYPES[dtype]).eval().requires_grad_(False)
        self.path, self.layer, self.max_length, self.dtype = folder, layer, max_length, dtype
        self.record = EncoderRecord.of_folder(folder)
        layers = getattr(model.config, "num_hidden_layers", None)
        if (
            isinstance(layer, bool)
            or not isinstance(layer, int)
            or (layers is not None and not -layers - 1 <= layer <= layers)
        ):
            raise ValueError(
                f"layer must index the {layers} layers of {folder} (0 = embeddings, -1 = last), "
                f"got {layer!r}"
            )
        self.feature_dim: int = int(self.encode([""]).tokens.shape[-1])

    @torch.no_grad()
    def encode(self, prompts: Sequence[str], device: torch.device | str = "cpu") -> TextCondition:
        """Features (B, L, E) float32 and the mask (B, L) of ``prompts``."""
        items = check_prompts(prompts)
        if not items:
            raise ValueError("no prompts to encode")
        batch = self.tokenizer(
            items, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        ids, mask = batch["input_ids"], batch["attention_mask"].bool()  # (B, L)
        if ids.shape[1] == 0:
            ids = torch.full((len(items), 1), self.tokenizer.pad_token_id or 0, dtype=torch.long)
            mask = torch.zeros(len(items), 1, dtype=torch.bool)
        mask[:, 0] = True  # rows without any token keep one (see the module docstring)
        model_device = next(self.model.parameters()).device
        out = self.model(
            input_ids=ids.to(model_device),
            attention_mask=mask.long().to(model_device),
            output_hidden_states=True,
        )
        hidden = (
            out.hidden_states[self.layer].float() * mask.to(model_device)[..., None]
        )  # (B, L, E)
        return TextCondition(hidden.to(device), mask.to(device))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **self.record.to_json(),
            "layer": self.layer,
            "max_length": self.max_length,
            "dtype": self.dtype,
            "feature_dim": self.feature_dim,
        }

    @classmethod
    def from_json(
        cls,
        data: dict[str, Any],
        device: torch.device | str = "cpu",
        *,
        model_folder: str | Path | None = None,
        encoder_folder: str | Path | None = None,
    ) -> PretrainedTextEncoder:
        """The encoder ``data`` describes, read from ``encoder_folder`` when given, else from the
        first folder holding it (the recorded path, beside or inside ``model_folder``, the hub
        cache: :func:`~patchforcing.model.text.locate.locate_encoder`)."""
        if not isinstance(data, dict) or data.get("kind") != cls.kind:
            raise ValueError(f"not a pretrained text encoder description: {str(data)[:80]!r}")
        record = EncoderRecord.from_json(data)
        folder = locate_encoder(record, model_folder, encoder_folder)
        encoder = cls(
            folder,
            data.get("layer", -1),
            data.get("max_length", 128),
            data.get("dtype", "float32"),
            device,
        )
        expected = data.get("feature_dim")
        if expected is not None and expected != encoder.feature_dim:
            raise ValueError(
                f"the text encoder in {folder} gives {encoder.feature_dim}-d features, the "
                f"description says {expected}; the folder holds another model"
            )
        return encoder
