"""Image-encoder features of the source images, stored beside their latents for REPA training.

``patchforcing encode --repa-encoder ENC`` runs the frozen encoder once over the same images it
encodes with the VAE, in the same order, and writes (the latents cannot be turned back into the
encoder's input):

    repa_features.json           manifest: the encoder (its JSON description), count, shape, dtype,
                                 shard names (written last)
    repa_00000.safetensors       "features" (m, Z, h, w) of latents 0 .. m-1
    ...

:func:`load_repa_features` reads them back whole, checked against the latents' count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from patchforcing.utils.io.atomic import atomic_write

__all__ = [
    "REPA_MANIFEST",
    "REPA_SHARD_PATTERN",
    "StoredFeatures",
    "FeatureWriter",
    "read_feature_spec",
    "load_repa_features",
]

REPA_MANIFEST = "repa_features.json"
REPA_SHARD_PATTERN = r"repa_\d{5}\.safetensors"
_FORMAT = 1
_DTYPES = {"float16": torch.float16, "float32": torch.float32}


@dataclass(frozen=True)
class StoredFeatures:
    """The features (M, Z, h, w) of a latent folder's images and the encoder that made them."""

    features: torch.Tensor
    encoder: dict[str, Any]


class FeatureWriter:
    """Collects (B, Z, h, w) feature batches and writes a shard every ``shard_size`` images;
    :meth:`close` writes the last one and the manifest."""

    def __init__(
        self, folder: str | Path, shard_size: int, dtype: str, encoder: dict[str, Any]
    ) -> None:
        if dtype not in _DTYPES:
            raise ValueError(f"feature dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.folder, self.shard_size, self.dtype = Path(folder), shard_size, dtype
        self.encoder = encoder
        self.pending: list[torch.Tensor] = []
        self.shards: list[str] = []
        self.count = 0
        self.shape: tuple[int, ...] = ()

    def add(self, features: torch.Tensor) -> None:
        self.shape = tuple(features.shape[1:])
        self.pending.append(features.detach().to("cpu", _DTYPES[self.dtype]))
        while sum(len(x) for x in self.pending) >= self.shard_size:
            self._flush(self.shard_size)

    def _flush(self, limit: int) -> None:
        features = torch.cat(self.pending)
        self.pending = [features[limit:]] if len(features) > limit else []
        name = f"repa_{len(self.shards):05d}.safetensors"
        shard = {"features": features[:limit].contiguous()}
        atomic_write(self.folder / name, lambda tmp: save_file(shard, str(tmp)))
        self.shards.append(name)
        self.count += min(limit, len(features))

    def close(self) -> Path:
        if self.pending:
            self._flush(sum(len(x) for x in self.pending))
        manifest = {
            "format_version": _FORMAT,
            "encoder": self.encoder,
            "count": self.count,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "shards": self.shards,
        }
        text = json.dumps(manifest, indent=2)
        return atomic_write(self.folder / REPA_MANIFEST, lambda tmp: tmp.write_text(text))


def read_feature_spec(folder: str | Path) -> dict[str, Any] | None:
    """The manifest of a latent folder's stored features, None when it has none."""
    path = Path(folder) / REPA_MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is unreadable ({err}); run `patchforcing encode` again") from err
    if int(manifest.get("format_version", 0)) > _FORMAT:
        raise ValueError(f"{path} has a newer format than this patchforcing reads; upgrade it")
    return dict(manifest)


def load_repa_features(folder: str | Path, count: int) -> StoredFeatures:
    """The stored features of the ``count`` latents of ``folder``; a missing or mismatched store is
    one ValueError saying how to make it."""
    manifest = read_feature_spec(folder)
    if manifest is None:
        raise ValueError(
            f"{folder} holds no REPA features; encode the images again with "
            "`patchforcing encode --repa-encoder ENC` to store them beside the latents"
        )
    parts = [load_file(str(Path(folder) / name))["features"] for name in manifest["shards"]]
    features = torch.cat(parts)
    if len(features) != count or list(features.shape[1:]) != manifest["shape"]:
        raise ValueError(
            f"{folder}: the stored REPA features are {tuple(features.shape)}, for {count} "
            f"latents of {manifest['shape']} features; encode the images again"
        )
    return StoredFeatures(features, dict(manifest["encoder"]))
