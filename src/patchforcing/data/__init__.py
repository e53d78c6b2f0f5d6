"""Datasets: built-in Fashion-MNIST and colour emoji, folders of images, ``.npz`` arrays and folders
of encoded latents, all held in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from patchforcing.data.arrays import (
    ArrayData,
    Captions,
    ImageArrays,
    from_model_range,
    to_model_range,
)
from patchforcing.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
from patchforcing.data.folder import BAD_FILE_POLICIES, BadImageError, load_image_folder
from patchforcing.data.latents import LatentArrays, is_latent_folder, load_latents
from patchforcing.data.npz import load_npz
from patchforcing.utils.limits import check_limit

__all__ = [
    "DataConfig",
    "ArrayData",
    "Captions",
    "ImageArrays",
    "LatentArrays",
    "load_dataset",
    "load_images",
    "to_model_range",
    "from_model_range",
    "FASHION_MNIST_CLASSES",
    "BAD_FILE_POLICIES",
    "BadImageError",
    "SPLITS",
    "BUILTIN_SOURCES",
    "EMOJI_DEFAULT_SIZE",
    "held_out_split",
]

SPLITS = ("train", "test")
BUILTIN_SOURCES = ("fashion-mnist", "emoji")  # named data sets with a train and a test split
EMOJI_DEFAULT_SIZE = 32


def held_out_split(source: str) -> str:
    """The split of ``source`` that training does not see: "test" for a built-in data set, "train"
    (the only one) for a folder or an ``.npz`` file."""
    return "test" if source in BUILTIN_SOURCES else "train"


@dataclass(frozen=True)
class DataConfig:
    """``source`` is ``fashion-mnist``, ``emoji`` or a path to an image folder or an ``.npz`` file.
    ``data_dir`` is where a built-in data set is installed (default: its usual place); ``split``
    chooses a built-in data set's split (the other sources have one); emoji take ``image_size`` None
    as 32.

    ``on_bad_file`` says what an image folder does with a file it cannot use (truncated, not an
    image, too small): ``error`` lists every such file and stops, ``skip`` leaves them out and
    reports them in :attr:`ImageArrays.skipped`."""

    source: str = "fashion-mnist"
    data_dir: str | None = None
    image_size: int | None = None
    channels: int | None = None
    split: str = "train"
    on_bad_file: str = "error"

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise ValueError(f"data source must be a non-empty string, got {self.source!r}")
        if self.image_size is not None and (
            not isinstance(self.image_size, int) or self.image_size < 1
        ):
            raise ValueError(f"image_size must be a positive integer, got {self.image_size!r}")
        if self.image_size is not None:
            check_limit("image_size", self.image_size, "image_size")
        if self.channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.on_bad_file not in BAD_FILE_POLICIES:
            raise ValueError(
                f"on_bad_file must be one of {BAD_FILE_POLICIES}, got {self.on_bad_file!r}"
            )


def load_dataset(config: DataConfig) -> ImageArrays | LatentArrays:
    """Load the dataset the config names (a folder of encoded latents gives a ``LatentArrays``,
    which serves batches the same way)."""
    if config.source == "fashion-mnist":
        data = load_fashion_mnist(config.split, config.data_dir)
        if config.image_size not in (None, 28):
            raise ValueError(
                f"Fashion-MNIST images are 28x28; image_size {config.image_size} was requested"
            )
        return data
    if config.source == "emoji":
        from patchforcing.data.emoji import (
            load_emoji,
        )  # here, so `python -m patchforcing.data.emoji` imports it once

        if config.channels == 1:
            raise ValueError("emoji are RGB images; channels 1 was requested")
        return load_emoji(config.split, config.data_dir, config.image_size or EMOJI_DEFAULT_SIZE)
    path = Path(config.source)
    if path.suffix == ".npz":
        return load_npz(path, config.image_size)
    if is_latent_folder(path):  # written by `patchforcing encode`
        return load_latents(path)
    if path.is_dir():
        if config.image_size is None:
            raise ValueError(
                f"an image folder needs an image size (--image-size) to resize {path} to"
            )
        return load_image_folder(path, config.image_size, config.channels, config.on_bad_file)
    raise FileNotFoundError(
        f"data source {config.source!r} is neither {' nor '.join(map(repr, BUILTIN_SOURCES))}, "
        f"an existing folder, nor an .npz file"
    )


def load_images(config: DataConfig) -> ImageArrays:
    """:func:`load_dataset` for the uses that need pixels (reference features, the metrics
    classifier, encoding): a folder of encoded latents is refused."""
    data = load_dataset(config)
    if not isinstance(data, ImageArrays):
        raise ValueError(f"{config.source} is a folder of encoded latents; this needs images")
    return data
