"""Encoded captions of a data set, cached on disk so a frozen encoder runs once per data set.

The file ``text-<digest>.safetensors`` in the cache folder holds ``tokens`` and ``mask`` of every
caption; the digest covers the encoder's JSON description and the captions, so another encoder,
layer or caption list never reads it. Where the description holds a fingerprint of the encoder's
weights, where the encoder lies (its path, name, hub id) is left out of the digest, so the cache
still holds after the encoder folder moves. A file that cannot be read or does not match
(damaged, truncated) is recomputed and replaced.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from patchforcing.core.condition import TextCondition
from patchforcing.model.text.encoders import TextEncoder
from patchforcing.model.text.tokenizer import check_prompts
from patchforcing.utils.io.atomic import atomic_write

__all__ = ["cache_digest", "cache_path", "encode_cached"]

_LOCATION = ("path", "name", "hub_id", "revision")  # where an encoder lies, not what it computes


def cache_digest(encoder: TextEncoder, captions: Sequence[str]) -> str:
    """sha256 of the encoder's description (without its location when it has a fingerprint) and
    the captions."""
    description = encoder.to_json()
    if description.get("fingerprint") is not None:
        description = {k: v for k, v in description.items() if k not in _LOCATION}
    text = json.dumps(
        {"encoder": description, "captions": list(captions)},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_path(cache_dir: str | Path, digest: str) -> Path:
    return Path(cache_dir) / f"text-{digest[:32]}.safetensors"


def _read(path: Path, digest: str, count: int) -> TextCondition | None:
    """The cached condition, or None when the file is missing or does not hold what it should."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
        if meta.get("digest") != digest or set(tensors) != {"tokens", "mask"}:
            raise ValueError("it belongs to other captions or another encoder")
        condition = TextCondition(tensors["tokens"], tensors["mask"])
        if len(condition) != count or not bool(condition.mask[:, 0].all()):
            raise ValueError(f"it holds {len(condition)} rows for {count} captions")
    except (SafetensorError, OSError, ValueError) as err:
        warnings.warn(
            f"text cache {path} is damaged ({err}); encoding the captions again", stacklevel=3
        )
        return None
    return condition


def encode_cached(
    encoder: TextEncoder, captions: Sequence[str], cache_dir: str | Path, batch_size: int = 256
) -> TextCondition:
    """``encoder.encode(captions)`` on the CPU, read from ``cache_dir`` when it was computed before
    (batches of ``batch_size`` captions, padded to the longest caption)."""
    items = check_prompts(captions)
    if not items:
        raise ValueError("no captions to encode")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    digest = cache_digest(encoder, items)
    path = cache_path(cache_dir, digest)
    cached = _read(path, digest, len(items))
    if cached is not None:
        return cached
    parts = [
        encoder.encode(items[i : i + batch_size], "cpu") for i in range(0, len(items), batch_size)
    ]
    condition = TextCondition.cat(parts)
    tensors = {"tokens": condition.tokens.contiguous(), "mask": condition.mask.contiguous()}
    atomic_write(
        path, lambda tmp: save_file(tensors, str(tmp), metadata={"digest": digest}), "text cache"
    )
    return condition
