"""Datasets: built-in Fashion-MNIST, folders of images, and ``.npz`` arrays, all held in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from patchforcing.data.arrays import ImageArrays, from_model_range, to_model_range
from patchforcing.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
from patchforcing.data.folder import load_image_folder
from patchforcing.data.npz import load_npz

__all__ = ["DataConfig", "ImageArrays", "load_dataset", "to_model_range", "from_model_range", "FASHION_MNIST_CLASSES"]


@dataclass(frozen=True)
class DataConfig:
    """``source`` is ``fashion-mnist`` or a path to an image folder or an ``.npz`` file."""

    source: str = "fashion-mnist"
    data_dir: str | None = None
    image_size: int | None = None
    channels: int | None = None
    split: str = "train"

    def __post_init__(self) -> None:
        if self.image_size is not None and self.image_size < 1:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        if self.channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")


def load_dataset(config: DataConfig) -> ImageArrays:
    """Load the dataset the config names."""
    if config.source == "fashion-mnist":
        data = load_fashion_mnist(config.split, config.data_dir)
        if config.image_size not in (None, 28):
            raise ValueError(f"Fashion-MNIST images are 28x28; image_size {config.image_size} was requested")
        return data
    path = Path(config.source)
    if path.suffix == ".npz":
        return load_npz(path, config.image_size)
    if path.is_dir():
        if config.image_size is None:
            raise ValueError(f"an image folder needs an image size (--image-size) to resize {path} to")
        return load_image_folder(path, config.image_size, config.channels)
    raise FileNotFoundError(f"data source {config.source!r} is neither 'fashion-mnist', an existing folder, nor an .npz file")
