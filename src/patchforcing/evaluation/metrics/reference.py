"""Reference features of a real dataset (e.g. the 10k Fashion-MNIST test images), computed once
and cached.

The cache file is keyed by the extractor's weights and a digest of the images, so changing either
recomputes it. Location: ``$PATCHFORCING_CACHE/reference`` or ``~/.cache/patchforcing/reference``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from patchforcing.data import ImageArrays
from patchforcing.evaluation.metrics.features import FeatureExtractor, embed_batches
from patchforcing.utils.cache import cache_dir
from patchforcing.utils.io.atomic import atomic_write

__all__ = ["default_cache_dir", "reference_features", "image_batches"]


def default_cache_dir() -> Path:
    """Where reference features are cached: ``$PATCHFORCING_CACHE/reference`` or
    ``~/.cache/patchforcing/reference``."""
    return cache_dir("reference")


def image_batches(data: ImageArrays, batch_size: int = 500):
    """Model-range image batches (B, C, H, W) of a dataset, in order."""
    for start in range(0, len(data), batch_size):
        yield data.batch(torch.arange(start, min(start + batch_size, len(data))))[0]


def reference_features(
    extractor: FeatureExtractor, data: ImageArrays, cache_dir: str | Path | None = None
) -> torch.Tensor:
    """Features (M, D) of every image of ``data``; read from the cache when present (a damaged cache
    file is recomputed, with a note)."""
    digest = hashlib.sha256(data.images.numpy().tobytes()).hexdigest()[:16]
    path = (
        Path(cache_dir or default_cache_dir()) / f"{extractor.key}-{digest}-{len(data)}.safetensors"
    )
    if path.is_file():
        cached = _read_cache(path, len(data))
        if cached is not None:
            return cached
    feats = embed_batches(extractor, image_batches(data)).contiguous()
    atomic_write(path, lambda tmp: save_file({"features": feats}, str(tmp)))
    return feats


def _read_cache(path: Path, rows: int) -> torch.Tensor | None:
    """The cached features, or None (after a note) when the file is damaged or does not fit."""
    try:
        feats = load_file(str(path))["features"]
        problem = (
            ""
            if feats.dim() == 2 and feats.shape[0] == rows and bool(torch.isfinite(feats).all())
            else f"holds {tuple(feats.shape)} features, not {rows} finite rows"
        )
    except (SafetensorError, OSError, KeyError) as err:
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
    if not problem:
        return feats
    print(
        f"note: the reference-feature cache {path} is damaged ({problem}); recomputing it",
        file=sys.stderr,
    )
    return None
