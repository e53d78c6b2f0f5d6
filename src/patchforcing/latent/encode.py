"""``patchforcing encode``: turn an image dataset into latent shards once, before training.

Image folders are streamed a batch at a time (ImageNet does not fit in memory as pixels); other
sources (``.npz``, Fashion-MNIST) are loaded whole. Labels follow the same rules as training on the
images directly: ``root/<class>/`` sub-folders in sorted order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from patchforcing.data import DataConfig, load_images
from patchforcing.data.folder import BadImageError, _list_files, load_image
from patchforcing.data.latents import ShardWriter
from patchforcing.io.pixels import to_model_range
from patchforcing.latent.vae import VaeCodec

__all__ = ["EncodeConfig", "EncodeResult", "image_batches", "encode_dataset"]


@dataclass(frozen=True)
class EncodeConfig:
    source: str  # image folder, .npz file or "fashion-mnist"
    out: str
    image_size: int = 256
    batch_size: int = 64
    shard_size: int = 10_000
    dtype: str = "float16"

    def __post_init__(self) -> None:
        if min(self.image_size, self.batch_size, self.shard_size) < 1:
            raise ValueError(f"image_size, batch_size and shard_size must be >= 1, got {self}")


@dataclass(frozen=True)
class EncodeResult:
    manifest: Path
    count: int
    latent_shape: tuple[int, ...]  # (C, h, w)


def image_batches(config: EncodeConfig) -> tuple[int, tuple[str, ...], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """(number of images, class names, iterator of (uint8 (B, 3, H, W), labels (B,)) batches)."""
    path = Path(config.source)
    if not path.is_dir():
        data = load_images(DataConfig(source=config.source, image_size=config.image_size))
        if data.channels != 3:
            raise ValueError(f"{config.source} has {data.channels}-channel images; the VAE encodes RGB images")
        index = torch.arange(len(data))
        return len(data), data.class_names, ((data.images[i], data.labels[i]) for i in index.split(config.batch_size))
    files, bad, names = _list_files(path)
    if bad:
        raise BadImageError(f"{len(bad)} file(s) in {path} are not images, e.g. {bad[0]}")

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(files), config.batch_size):
            chunk = files[start: start + config.batch_size]
            images = np.stack([load_image(p, config.image_size, 3) for p, _ in chunk])
            yield torch.from_numpy(images), torch.tensor([label for _, label in chunk])

    return len(files), names, batches()


def encode_dataset(config: EncodeConfig, codec: VaeCodec, progress: bool = True) -> EncodeResult:
    """Encode every image of ``config.source`` into ``config.out`` with a progress bar."""
    total, names, batches = image_batches(config)
    writer = ShardWriter(config.out, config.shard_size, config.dtype, codec.scale,
                         {"class_names": list(names), "source": config.source, "image_size": config.image_size})
    with tqdm(total=total, disable=not progress, desc="encode", unit="img") as bar:
        for images, labels in batches:
            writer.add(codec.encode(to_model_range(images)), labels)  # (B, C, h, w)
            bar.update(len(labels))
    manifest = writer.close()
    return EncodeResult(manifest, writer.count, writer.latent_shape)
