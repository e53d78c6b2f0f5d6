"""A folder of images; sub-folder names are the class labels.

Every file is either converted (grey/RGB, 16-bit, palette, CMYK and alpha images included) or
reported by name as bad. The bad-file policy decides what happens to reported files: ``error``
(default) lists them all and stops, ``skip`` leaves them out and records them in
:attr:`ImageArrays.skipped`. Hidden files (``.DS_Store``, ...) are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from patchforcing.data.arrays import ImageArrays
from patchforcing.limits import check_limit, check_memory

__all__ = ["IMAGE_SUFFIXES", "BAD_FILE_POLICIES", "MAX_UPSCALE", "BadImageError", "load_image", "load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
BAD_FILE_POLICIES = ("error", "skip")
MAX_UPSCALE = 4  # a smaller image would be mostly interpolation: report it instead of training on it
_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_SHOWN = 20  # bad files listed in an error message


class BadImageError(ValueError):
    """A file that cannot be used as a training image; the message names the file and the reason."""


def _to_8bit(img: Image.Image, channels: int) -> Image.Image:
    """Grey (L) or RGB, 8 bits per channel; alpha composited onto white."""
    if img.mode.startswith("I"):  # 16/32-bit integer grey: 65535 -> 255
        img = Image.fromarray((np.asarray(img, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8))
    elif img.mode == "F":  # float grey, taken as [0, 1]
        img = Image.fromarray((np.asarray(img, dtype=np.float64) * 255).clip(0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return img.convert("L" if channels == 1 else "RGB")


def load_image(path: Path, size: int, channels: int) -> np.ndarray:
    """Decode, convert, resize the short side and center-crop: (C, size, size) uint8.
    Raises :class:`BadImageError` naming ``path`` for anything that is not a usable image."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            width, height = img.size
            if min(width, height) * MAX_UPSCALE < size:
                raise BadImageError(f"{path}: image is only {width}x{height}, too small to upscale to "
                                    f"{size}x{size} (at most {MAX_UPSCALE}x)")
            img = ImageOps.fit(_to_8bit(img, channels), (size, size), method=Image.Resampling.BICUBIC)
            array = np.asarray(img, dtype=np.uint8)  # (size, size) or (size, size, 3)
    except BadImageError:
        raise
    except Exception as err:  # Pillow's decoders raise many types on damaged input (OSError, SyntaxError, ...)
        raise BadImageError(f"{path}: cannot read image: {err or type(err).__name__}") from err
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _guess_channels(files: list[Path]) -> int:
    """RGB if any of the first images is in colour, else grey (unreadable files are judged later)."""
    for path in files[:64]:
        try:
            with Image.open(path) as img:
                if img.mode not in _GREY_MODES:
                    return 3
        except Exception:  # reported with the reason when the file is loaded
            continue
    return 1


def _visible_files(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _list_files(root: Path) -> tuple[list[tuple[Path, int]], list[str], tuple[str, ...]]:
    """(image files with labels, bad-file reports, class names)."""
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    groups = [(d.name, d) for d in class_dirs] if class_dirs else [(root.name, root)]
    files: list[tuple[Path, int]] = []
    bad: list[str] = []
    if class_dirs:
        bad += [f"{p}: outside any class folder (move it into one of {root}'s sub-folders)"
                for p in _visible_files(root, recursive=False)]
    for label, (_, folder) in enumerate(groups):
        found = _visible_files(folder, recursive=True)
        if not found:
            raise ValueError(f"{'class folder' if class_dirs else 'image folder'} {folder} is empty")
        for path in found:
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.append((path, label))
            else:
                bad.append(f"{path}: not an image file (suffix {path.suffix or 'none'!r}; "
                           f"expected one of {', '.join(IMAGE_SUFFIXES)})")
    return files, bad, tuple(name for name, _ in groups)


def load_image_folder(root: str | Path, size: int, channels: int | None = None,
                      on_bad_file: str = "error") -> ImageArrays:
    """Every image under ``root``. Images in ``root/<class>/`` get that class; with no sub-folders
    all images are one class. ``channels`` None picks RGB if any image is in colour."""
    root = Path(root)
    if on_bad_file not in BAD_FILE_POLICIES:
        raise ValueError(f"on_bad_file must be one of {BAD_FILE_POLICIES}, got {on_bad_file!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    files, bad, class_names = _list_files(root)
    check_limit(f"the number of classes (sub-folders) in {root}", len(class_names), "classes")
    channels = channels or _guess_channels([p for p, _ in files])
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    check_memory(3 * len(files) * channels * size * size, f"loading {len(files)} images of {size}x{size} from {root}")
    images, labels = [], []
    for path, label in files:
        try:
            images.append(load_image(path, size, channels))
            labels.append(label)
        except BadImageError as err:
            bad.append(str(err))
    if bad and on_bad_file == "error":
        shown = "\n  ".join(bad[:_SHOWN]) + (f"\n  ... and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else "")
        raise BadImageError(f"{len(bad)} bad file(s) in {root} (pass --on-bad-file skip to leave them out):\n  {shown}")
    if not images:
        raise ValueError(f"image folder {root} has no usable images ({len(bad)} bad file(s) skipped)")
    return ImageArrays.from_numpy(np.stack(images), np.array(labels, dtype=np.int64), class_names, tuple(bad))
