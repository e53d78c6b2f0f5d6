"""A folder of PNG/JPEG images; sub-folder names are the class labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from patchforcing.data.arrays import ImageArrays

__all__ = ["IMAGE_SUFFIXES", "load_image", "load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_image(path: Path, size: int, channels: int) -> np.ndarray:
    """Decode, convert to grey or RGB, resize the short side and center-crop: (C, size, size) uint8."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                img = Image.fromarray((np.asarray(img, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8))
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, rgba)
            img = img.convert("L" if channels == 1 else "RGB")
            img = ImageOps.fit(img, (size, size), method=Image.Resampling.BICUBIC)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    array = np.asarray(img, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _guess_channels(files: list[Path]) -> int:
    for path in files[:64]:
        try:
            with Image.open(path) as img:
                if img.mode not in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"):
                    return 3
        except (UnidentifiedImageError, OSError):
            continue
    return 1


def load_image_folder(root: str | Path, size: int, channels: int | None = None) -> ImageArrays:
    """Every image under ``root``. Images in ``root/<class>/`` get that class; with no sub-folders
    all images are one class. ``channels`` None picks RGB if any image is in colour."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir())
    groups = [(d.name, d) for d in class_dirs] if class_dirs else [(root.name, root)]
    files: list[tuple[Path, int]] = []
    for label, (name, folder) in enumerate(groups):
        found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ValueError(f"class folder {folder} holds no PNG/JPEG images")
        files.extend((p, label) for p in found)
    channels = channels or _guess_channels([p for p, _ in files])
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    images = np.stack([load_image(p, size, channels) for p, _ in files])
    labels = np.array([label for _, label in files], dtype=np.int64)
    return ImageArrays.from_numpy(images, labels, tuple(name for name, _ in groups))
