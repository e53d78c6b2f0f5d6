"""The frozen encoder's features of a whole image data set, computed once and cached on disk.

Training images are not augmented, so the features of an image are the same at every step: REPA
training on image data reads them from a table (the default; ``RepaConfig.features="online"`` runs
the encoder on every batch instead). The file ``repa-<digest>.safetensors`` in
``$PATCHFORCING_CACHE/repa`` (default ``~/.cache/patchforcing/repa``) holds them in float16; the
digest covers the encoder's description and every image, so other data or another encoder or
resolution never reads it. A file that cannot be read or does not match is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from patchforcing.data import ArrayData
from patchforcing.model.vision import ImageEncoder
from patchforcing.utils.cache import cache_dir as default_cache_dir
from patchforcing.utils.io.atomic import atomic_write

__all__ = ["dataset_features"]

BATCH = 64


def _batches(data: ArrayData):
    for start in range(0, len(data), BATCH):
        yield data.batch(torch.arange(start, min(start + BATCH, len(data))))[0]  # (b, C, H, W)


def _digest(encoder: ImageEncoder, data: ArrayData) -> str:
    digest = hashlib.sha256(json.dumps(encoder.to_json(), sort_keys=True).encode())
    for images in _batches(data):
        digest.update(images.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _read(path: Path, digest: str, count: int) -> torch.Tensor | None:
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        features = load_file(str(path))["features"]
        if meta.get("digest") != digest or len(features) != count or features.dim() != 4:
            raise ValueError("it belongs to other images or another encoder")
    except (SafetensorError, OSError, ValueError, KeyError) as err:
        warnings.warn(
            f"REPA feature cache {path} is damaged ({err}); computing it again", stacklevel=3
        )
        return None
    return features


def dataset_features(
    encoder: ImageEncoder, data: ArrayData, cache_dir: Path | None = None
) -> torch.Tensor:
    """``encoder``'s features of every image of ``data`` in order, (M, Z, h, w) float16 on the
    CPU, from the cache when it holds them."""
    digest = _digest(encoder, data)
    path = (cache_dir or default_cache_dir("repa")) / f"repa-{digest[:32]}.safetensors"
    cached = _read(path, digest, len(data))
    if cached is not None:
        return cached
    features = torch.cat([encoder(images).half().cpu() for images in _batches(data)]).contiguous()
    atomic_write(
        path,
        lambda tmp: save_file({"features": features}, str(tmp), metadata={"digest": digest}),
        "REPA feature cache",
    )
    return features
