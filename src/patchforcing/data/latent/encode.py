"""``patchforcing encode``: turn an image dataset into latent shards once, before training.

Image folders are streamed a batch at a time (ImageNet does not fit in memory as pixels); other
sources (``.npz``, Fashion-MNIST) are loaded whole. Labels follow the same rules as training on the
images directly: ``root/<class>/`` sub-folders in sorted order. Given a REPA image encoder, its
features of the same images are stored beside the latents
(:mod:`patchforcing.data.latent.repa_features`), for ``train --repa-encoder`` on the latents.
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
from patchforcing.data.latent.repa_features import REPA_MANIFEST, REPA_SHARD_PATTERN, FeatureWriter
from patchforcing.data.latent.vae import VaeCodec
from patchforcing.data.latents import MANIFEST, ShardWriter
from patchforcing.model.vision import ImageEncoder
from patchforcing.utils.io.atomic import atomic_directory
from patchforcing.utils.io.destination import OutputKind, check_output_folder, names
from patchforcing.utils.io.pixels import to_model_range
from patchforcing.utils.limits import check_limit

__all__ = ["EncodeConfig", "EncodeResult", "image_batches", "check_encode_out", "encode_dataset"]


@dataclass(frozen=True)
class EncodeConfig:
    source: str  # image folder, .npz file or "fashion-mnist"
    out: str
    image_size: int = 256
    batch_size: int = 64
    shard_size: int = 10_000
    dtype: str = "float16"
    overwrite: bool = False  # replace an earlier `encode` output in ``out`` (never other files)

    def __post_init__(self) -> None:
        if min(self.image_size, self.batch_size, self.shard_size) < 1:
            raise ValueError(f"image_size, batch_size and shard_size must be >= 1, got {self}")
        check_limit("image_size", self.image_size, "image_size")
        check_limit("batch_size", self.batch_size, "images")


ENCODED = OutputKind(
    "an encoded-latents folder",
    (MANIFEST,),
    names(MANIFEST, REPA_MANIFEST, patterns=(r"shard_\d{5}\.safetensors", REPA_SHARD_PATTERN)),
)


@dataclass(frozen=True)
class EncodeResult:
    manifest: Path
    count: int
    latent_shape: tuple[int, ...]  # (C, h, w)


def image_batches(
    config: EncodeConfig,
) -> tuple[int, tuple[str, ...], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """(number of images, class names, iterator of (uint8 (B, 3, H, W), labels (B,)) batches)."""
    path = Path(config.source)
    if not path.is_dir():
        data = load_images(DataConfig(source=config.source, image_size=config.image_size))
        if data.channels != 3:
            raise ValueError(
                f"{config.source} has {data.channels}-channel images; the VAE encodes RGB images"
            )
        index = torch.arange(len(data))
        return (
            len(data),
            data.class_names,
            ((data.images[i], data.labels[i]) for i in index.split(config.batch_size)),
        )
    files, bad, names = _list_files(path)
    if bad:
        raise BadImageError(f"{len(bad)} file(s) in {path} are not images, e.g. {bad[0]}")

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(files), config.batch_size):
            chunk = files[start : start + config.batch_size]
            images = np.stack([load_image(p, config.image_size, 3) for p, _ in chunk])
            yield torch.from_numpy(images), torch.tensor([label for _, label in chunk])

    return len(files), names, batches()


def check_encode_out(config: EncodeConfig) -> None:
    """Refuse an ``out`` holding anything but an earlier ``encode`` output (that one only with
    ``config.overwrite``), or lying inside the source folder."""
    check_output_folder(Path(config.out), ENCODED, config.overwrite, source=Path(config.source))


def encode_dataset(
    config: EncodeConfig,
    codec: VaeCodec,
    progress: bool = True,
    repa_encoder: ImageEncoder | None = None,
) -> EncodeResult:
    """Encode every image of ``config.source`` into ``config.out`` with a progress bar, and store
    ``repa_encoder``'s features of them beside the latents when one is given. The folder is written
    beside ``out`` and renamed into place when complete; ``out`` must be new, empty, or an earlier
    encoded folder with ``config.overwrite``."""
    out = Path(config.out)
    check_encode_out(config)
    total, class_names, batches = image_batches(config)
    written: list[ShardWriter] = []
    meta = {
        "class_names": list(class_names),
        "source": config.source,
        "image_size": config.image_size,
    }

    def fill(folder: Path) -> None:
        writer = ShardWriter(folder, config.shard_size, config.dtype, codec.scale, meta)
        features = (
            FeatureWriter(folder, config.shard_size, config.dtype, repa_encoder.to_json())
            if repa_encoder is not None
            else None
        )
        with tqdm(total=total, disable=not progress, desc="encode", unit="img") as bar:
            for images, labels in batches:
                x = to_model_range(images)  # (B, 3, H, W) in [-1, 1]
                writer.add(codec.encode(x), labels)  # (B, C, h, w)
                if features is not None and repa_encoder is not None:
                    features.add(repa_encoder(x))  # (B, Z, h', w')
                bar.update(len(labels))
        if features is not None:
            features.close()
        writer.close()  # the latents' manifest last: it marks the folder complete
        written.append(writer)

    atomic_directory(out, fill, "encoded latents", replace=config.overwrite)
    return EncodeResult(out / MANIFEST, written[0].count, written[0].latent_shape)
