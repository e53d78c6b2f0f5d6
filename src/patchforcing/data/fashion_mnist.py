"""Fashion-MNIST from the gzip IDX files of Debian's ``dataset-fashion-mnist`` package."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from patchforcing.data.arrays import ImageArrays

__all__ = [
    "FASHION_MNIST_CLASSES",
    "DEFAULT_FASHION_MNIST_DIR",
    "find_fashion_mnist",
    "load_fashion_mnist",
    "read_idx",
]

DEFAULT_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_INSTALL_HINT = (
    "install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or pass "
    "--data-dir pointing at a folder with the four *-ubyte.gz files, or set "
    "PATCHFORCING_FASHION_MNIST"
)


def read_idx(path: Path) -> np.ndarray:
    """Read one (optionally gzip-compressed) IDX file of unsigned bytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"cannot read IDX file {path}: {err}") from err
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path} has a truncated or empty IDX header ({ndim} dimensions)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = math.prod(dims)  # Python ints: a corrupt header cannot overflow
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != expected:
        raise ValueError(
            f"{path} does not match its header: expected {expected} values, found {body.size}"
        )
    return body.reshape(dims)


def find_fashion_mnist(directory: str | Path | None = None) -> Path:
    """The folder holding the files: the given one, $PATCHFORCING_FASHION_MNIST, or
    Debian's path."""
    candidates = [Path(directory)] if directory else []
    if not directory and os.environ.get("PATCHFORCING_FASHION_MNIST"):
        candidates.append(Path(os.environ["PATCHFORCING_FASHION_MNIST"]))
    if not candidates:
        candidates.append(DEFAULT_FASHION_MNIST_DIR)
    for folder in candidates:
        if all((folder / name).is_file() for pair in _FILES.values() for name in pair):
            return folder
    raise FileNotFoundError(
        f"Fashion-MNIST not found in {', '.join(map(str, candidates))}: {_INSTALL_HINT}"
    )


def load_fashion_mnist(split: str = "train", directory: str | Path | None = None) -> ImageArrays:
    """The 60k train or 10k test images as (M, 1, 28, 28) uint8 with labels."""
    if split not in _FILES:
        raise ValueError(f"split must be one of {sorted(_FILES)}, got {split!r}")
    folder = find_fashion_mnist(directory)
    images_file, labels_file = _FILES[split]
    images = read_idx(folder / images_file)
    labels = read_idx(folder / labels_file)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise ValueError(
            f"Fashion-MNIST files in {folder} have unexpected shapes {images.shape}, {labels.shape}"
        )
    return ImageArrays.from_numpy(images[:, None], labels, FASHION_MNIST_CLASSES)
