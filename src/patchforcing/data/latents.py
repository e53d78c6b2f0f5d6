"""Pre-encoded datasets: a folder of latent shards plus a manifest, loaded whole into memory.

``patchforcing encode`` (:mod:`patchforcing.data.latent.encode`) writes the folder with
:class:`ShardWriter`; :func:`patchforcing.data.load_dataset` reads it back. The format lives here,
below both.

    latents.json               manifest: count, shape, scale, classes, shard names (written last)
    shard_00000.safetensors    "latents" (m, C, h, w) float16/float32, "labels" (m,) int64
    ...

The folder counts as complete only once ``latents.json`` exists; shards are written atomically.
:class:`LatentArrays` serves the same interface as :class:`~patchforcing.data.arrays.ImageArrays`
(``batch``, ``len``, ``channels``, ``image_size``, ``num_classes``), so the training loop
is unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from patchforcing.data.arrays import Captions, CaptionsMixin, check_captions
from patchforcing.utils.io.atomic import atomic_write

__all__ = ["MANIFEST", "LatentArrays", "ShardWriter", "is_latent_folder", "load_latents"]

MANIFEST = "latents.json"
_FORMAT = 1
DTYPES = {"float16": torch.float16, "float32": torch.float32}


def is_latent_folder(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


@dataclass(frozen=True)
class LatentArrays(CaptionsMixin):
    """Scaled latents (M, C, h, w) and labels (M,) in [0, num_classes); ``captions`` as in
    :class:`~patchforcing.data.arrays.ImageArrays` (empty: none)."""

    latents: torch.Tensor
    labels: torch.Tensor
    scale: float
    class_names: tuple[str, ...] = field(default_factory=tuple)
    skipped: tuple[str, ...] = field(default_factory=tuple)
    captions: Captions = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.latents.dim() != 4 or not self.latents.is_floating_point():
            raise ValueError(
                f"latents must be float (M, C, h, w), "
                f"got {self.latents.dtype} {tuple(self.latents.shape)}"
            )
        if self.labels.shape != (self.latents.shape[0],):
            raise ValueError(
                f"labels must have shape ({self.latents.shape[0]},), got {tuple(self.labels.shape)}"
            )
        if len(self) == 0:
            raise ValueError("the latent dataset is empty")
        check_captions(self.captions, len(self))

    def __len__(self) -> int:
        return self.latents.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.class_names else int(self.labels.max()) + 1

    @property
    def channels(self) -> int:
        return self.latents.shape[1]

    @property
    def image_size(self) -> int:
        return self.latents.shape[-1]

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float32 latents (B, C, h, w) and labels (B,) for the given indices."""
        return self.latents[index].float(), self.labels[index]


class ShardWriter:
    """Collects encoded batches and writes a shard every ``shard_size`` latents; :meth:`close`
    writes the last shard and then the manifest."""

    def __init__(
        self, folder: str | Path, shard_size: int, dtype: str, scale: float, meta: dict
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"latent dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if shard_size < 1:
            raise ValueError(f"shard size must be >= 1, got {shard_size}")
        self.folder = Path(folder)
        if is_latent_folder(self.folder):
            raise ValueError(
                f"{self.folder} already holds encoded latents; pick another --out or remove it"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shard_size, self.dtype, self.scale, self.meta = shard_size, dtype, scale, meta
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.shards: list[str] = []
        self.count = 0
        self.shape: tuple[int, ...] | None = None

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """(C, h, w) of the latents added so far."""
        if self.shape is None:
            raise ValueError("nothing was encoded")
        return self.shape

    def add(self, latents: torch.Tensor, labels: torch.Tensor) -> None:
        """Queue (B, C, h, w) latents with their (B,) labels, writing full shards as they fill."""
        self.shape = tuple(latents.shape[1:])
        self.pending.append(
            (latents.detach().to("cpu", DTYPES[self.dtype]), labels.detach().cpu().long())
        )
        while sum(len(x) for x, _ in self.pending) >= self.shard_size:
            self._flush(self.shard_size)

    def _flush(self, limit: int) -> None:
        latents = torch.cat([x for x, _ in self.pending])
        labels = torch.cat([y for _, y in self.pending])
        rest = (latents[limit:], labels[limit:])
        self.pending = [rest] if len(rest[0]) else []
        name = f"shard_{len(self.shards):05d}.safetensors"
        tensors = {"latents": latents[:limit].contiguous(), "labels": labels[:limit].contiguous()}
        atomic_write(self.folder / name, lambda tmp: save_file(tensors, str(tmp)))
        self.shards.append(name)
        self.count += min(limit, len(latents))

    def close(self) -> Path:
        if self.pending:
            self._flush(sum(len(x) for x, _ in self.pending))
        manifest = {
            "format_version": _FORMAT,
            "count": self.count,
            "shape": list(self.latent_shape),
            "scale": self.scale,
            "dtype": self.dtype,
            "shards": self.shards,
            **self.meta,
        }
        text = json.dumps(manifest, indent=2)
        return atomic_write(self.folder / MANIFEST, lambda tmp: tmp.write_text(text))


def load_latents(folder: str | Path) -> LatentArrays:
    """Read a folder written by ``patchforcing encode``, checking the manifest against
    the shards."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{folder} is not a complete latent folder ({MANIFEST} unreadable: {err}); "
            f"run `patchforcing encode` again"
        ) from err
    if int(manifest.get("format_version", 0)) > _FORMAT:
        raise ValueError(
            f"{folder / MANIFEST} has a newer format than this patchforcing reads; upgrade it"
        )
    parts = [load_file(str(folder / name)) for name in manifest["shards"]]
    latents = torch.cat([p["latents"] for p in parts])
    labels = torch.cat([p["labels"] for p in parts])
    if len(latents) != manifest["count"] or list(latents.shape[1:]) != manifest["shape"]:
        raise ValueError(
            f"{folder}: shards hold {tuple(latents.shape)} latents, the manifest says "
            f"{manifest['count']} of {manifest['shape']}; re-encode"
        )
    return LatentArrays(
        latents, labels, float(manifest["scale"]), tuple(manifest.get("class_names", ()))
    )
