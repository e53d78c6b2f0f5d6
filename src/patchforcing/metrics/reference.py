"""Reference features of a real dataset (e.g. the 10k Fashion-MNIST test images), computed once and cached.

The cache file is keyed by the extractor's weights and a digest of the images, so changing either
recomputes it. Location: ``$PATCHFORCING_CACHE/reference`` or ``~/.cache/patchforcing/reference``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from patchforcing.data import ImageArrays
from patchforcing.io.atomic import atomic_write
from patchforcing.metrics.features import FeatureExtractor, embed_batches

__all__ = ["default_cache_dir", "reference_features", "image_batches"]


def default_cache_dir() -> Path:
    root = os.environ.get("PATCHFORCING_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "patchforcing") / "reference"


def image_batches(data: ImageArrays, batch_size: int = 500):
    """Model-range image batches (B, C, H, W) of a dataset, in order."""
    for start in range(0, len(data), batch_size):
        yield data.batch(torch.arange(start, min(start + batch_size, len(data))))[0]


def reference_features(extractor: FeatureExtractor, data: ImageArrays,
                       cache_dir: str | Path | None = None) -> torch.Tensor:
    """Features (M, D) of every image of ``data``; read from the cache when present."""
    digest = hashlib.sha256(data.images.numpy().tobytes()).hexdigest()[:16]
    path = Path(cache_dir or default_cache_dir()) / f"{extractor.key}-{digest}-{len(data)}.safetensors"
    if path.is_file():
        return load_file(str(path))["features"]
    feats = embed_batches(extractor, image_batches(data)).contiguous()
    atomic_write(path, lambda tmp: save_file({"features": feats}, str(tmp)))
    return feats
