"""NumPy ``.npz`` datasets: ``images`` (M, H, W), (M, H, W, C) or (M, C, H, W) uint8,
optional ``labels``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from patchforcing.data.arrays import ImageArrays
from patchforcing.utils.limits import check_limit, check_memory

__all__ = ["load_npz"]


def _to_nchw(images: np.ndarray, path: Path) -> np.ndarray:
    if images.ndim == 3:
        return images[:, None]
    if images.ndim == 4 and images.shape[1] in (1, 3):
        return images
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        return images.transpose(0, 3, 1, 2)
    raise ValueError(
        f"{path}: 'images' must be (M, H, W), (M, H, W, C) or (M, C, H, W) with C in (1, 3), "
        f"got {images.shape}"
    )


def load_npz(path: str | Path, size: int | None = None) -> ImageArrays:
    """Load and, if ``size`` differs from the stored size, resize square images with antialiasing.
    Every problem with the file's content raises ``ValueError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz file {path} does not exist")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array (.npy), not named arrays")
        with archive:
            if "images" not in archive.files:
                raise ValueError(f"it has no 'images' array (found {sorted(archive.files)})")
            images = archive["images"]
            labels = (
                archive["labels"]
                if "labels" in archive.files
                else np.zeros(len(images), dtype=np.int64)
            )
            names = (
                tuple(str(n) for n in archive["class_names"])
                if "class_names" in archive.files
                else ()
            )
        if not (isinstance(images, np.ndarray) and isinstance(labels, np.ndarray)):
            raise ValueError("'images' and 'labels' must be .npy arrays inside the archive")
    except (
        Exception
    ) as err:  # numpy/zipfile raise many types on damaged files (BadZipFile, zlib.error, ...)
        raise ValueError(f"cannot read npz file {path}: {err or type(err).__name__}") from err
    if images.dtype != np.uint8:
        raise ValueError(f"{path}: 'images' must be uint8 in [0, 255], got {images.dtype}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} {labels.shape}"
        )
    images = _to_nchw(images, path)
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(
            f"{path}: images must be square, got {images.shape[-2]}x{images.shape[-1]}"
        )
    check_limit(f"{path}: the number of class names", len(names), "classes")
    if labels.size:
        check_limit(f"{path}: the largest label", int(labels.max()), "classes")
    present = np.unique(labels)
    if labels.size and not names and len(present) != int(labels.max()) + 1 and labels.min() >= 0:
        missing = np.setdiff1d(np.arange(len(present) + 10), present)[
            :10
        ].tolist()  # the first ten lie below that
        raise ValueError(
            f"{path}: labels must be 0..K-1 with every class present, but classes {missing} have "
            "no images; renumber the labels or add a 'class_names' array"
        )
    try:
        data = ImageArrays.from_numpy(images, labels, names)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    if size is None or size == data.image_size:
        return data
    check_memory(5 * len(data) * data.channels * size * size, f"resizing {path} to {size}x{size}")
    resized = F.interpolate(data.images.float(), size=(size, size), mode="bilinear", antialias=True)
    return ImageArrays(resized.round().clamp(0, 255).to(torch.uint8), data.labels, data.class_names)
