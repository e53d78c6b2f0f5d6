"""A folder of images; sub-folder names are the class labels.

Every file is either converted (grey/RGB, 16-bit, palette, CMYK and alpha images included) or
reported by name as bad. The bad-file policy decides what happens to reported files: ``error``
(default) lists them all and stops, ``skip`` leaves them out and records them in
:attr:`ImageArrays.skipped`. Hidden files (``.DS_Store``, ...) are ignored.

Captions (optional), one or more alternatives per image, from either or both of:

- a text file beside the image with the same stem (``cat.png`` -> ``cat.txt``), one alternative per
  non-empty line;
- ``captions.jsonl`` at the folder root, one JSON object per line:
  ``{"file": "relative/path.png", "caption": "a cat"}`` or ``"caption": ["a cat", "a kitten"]``
  (several lines for one file add alternatives).

Once any image has a caption, every image needs one: an image without is a bad file (listed under
``error``, left out under ``skip``). A malformed ``captions.jsonl`` line is an error naming
the line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from patchforcing.data.arrays import ImageArrays
from patchforcing.utils.limits import check_limit, check_memory

__all__ = [
    "IMAGE_SUFFIXES",
    "BAD_FILE_POLICIES",
    "MAX_UPSCALE",
    "CAPTIONS_FILE",
    "BadImageError",
    "to_8bit",
    "load_image",
    "load_image_folder",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
BAD_FILE_POLICIES = ("error", "skip")
MAX_UPSCALE = (
    4  # a smaller image would be mostly interpolation: report it instead of training on it
)
_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_SHOWN = 20  # bad files listed in an error message
CAPTIONS_FILE = "captions.jsonl"
_JSONL_FORM = '{"file": "relative/path.png", "caption": "..." or ["...", ...]}'


class BadImageError(ValueError):
    """A file that cannot be used as a training image; the message names the file and the reason."""


def to_8bit(img: Image.Image, channels: int) -> Image.Image:
    """Grey (L) or RGB, 8 bits per channel; alpha composited onto white."""
    if img.mode.startswith("I"):  # 16/32-bit integer grey: 65535 -> 255
        img = Image.fromarray(
            (np.asarray(img, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8)
        )
    elif img.mode == "F":  # float grey, taken as [0, 1]
        img = Image.fromarray(
            (np.asarray(img, dtype=np.float64) * 255).clip(0, 255).astype(np.uint8)
        )
    if img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        img.mode == "P" and "transparency" in img.info
    ):
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
                raise BadImageError(
                    f"{path}: image is only {width}x{height}, too small to upscale to "
                    f"{size}x{size} (at most {MAX_UPSCALE}x)"
                )
            img = ImageOps.fit(
                to_8bit(img, channels), (size, size), method=Image.Resampling.BICUBIC
            )
            array = np.asarray(img, dtype=np.uint8)  # (size, size) or (size, size, 3)
    except BadImageError:
        raise
    except (
        Exception
    ) as err:  # Pillow's decoders raise many types on damaged input (OSError, SyntaxError, ...)
        raise BadImageError(f"{path}: cannot read image: {err or type(err).__name__}") from err
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _guess_channels(files: list[Path]) -> int:
    """RGB if any of the first images is in colour, else grey (unreadable files are
    judged later)."""
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
    return sorted(
        p
        for p in found
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _is_caption_file(path: Path, root: Path, found: set[Path]) -> bool:
    """The folder's captions.jsonl, or a .txt file beside an image of the same stem."""
    if path == root / CAPTIONS_FILE:
        return True
    return path.suffix == ".txt" and any(path.with_suffix(s) in found for s in IMAGE_SUFFIXES)


def _list_files(root: Path) -> tuple[list[tuple[Path, int]], list[str], tuple[str, ...]]:
    """(image files with labels, bad-file reports, class names); caption files are neither."""
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    groups = [(d.name, d) for d in class_dirs] if class_dirs else [(root.name, root)]
    files: list[tuple[Path, int]] = []
    bad: list[str] = []
    if class_dirs:
        bad += [
            f"{p}: outside any class folder (move it into one of {root}'s sub-folders)"
            for p in _visible_files(root, recursive=False)
            if p != root / CAPTIONS_FILE
        ]
    for label, (_, folder) in enumerate(groups):
        found = _visible_files(folder, recursive=True)
        if not found:
            raise ValueError(
                f"{'class folder' if class_dirs else 'image folder'} {folder} is empty"
            )
        images = {p for p in found if p.suffix.lower() in IMAGE_SUFFIXES}
        for path in found:
            if _is_caption_file(path, root, images):
                continue
            if path in images:
                files.append((path, label))
            else:
                bad.append(
                    f"{path}: not an image file (suffix {path.suffix or 'none'!r}; "
                    f"expected one of {', '.join(IMAGE_SUFFIXES)})"
                )
    return files, bad, tuple(name for name, _ in groups)


def _read_jsonl(root: Path, images: set[Path]) -> dict[Path, list[str]]:
    """Caption alternatives per image from ``root/captions.jsonl`` (none without the file)."""
    path = root / CAPTIONS_FILE
    found: dict[Path, list[str]] = {}
    if not path.is_file():
        return found
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read {path}: {err}") from err
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{where}: not valid JSON ({err.msg}); each line must be {_JSONL_FORM}"
            ) from err
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("file"), str)
            or "caption" not in entry
        ):
            raise ValueError(f"{where}: each line must be {_JSONL_FORM}, got {line.strip()[:80]}")
        texts = [entry["caption"]] if isinstance(entry["caption"], str) else entry["caption"]
        if (
            not isinstance(texts, list)
            or not texts
            or not all(isinstance(t, str) and t.strip() for t in texts)
        ):
            raise ValueError(
                f"{where}: 'caption' must be a non-empty string or a list of them, "
                f"got {entry['caption']!r}"
            )
        image = root / entry["file"]
        if image not in images:
            raise ValueError(
                f"{where}: {entry['file']!r} is not an image file of {root} (give its path "
                f"relative to the folder, e.g. 'class/name.png')"
            )
        found.setdefault(image, []).extend(t.strip() for t in texts)
    return found


def _read_captions(root: Path, files: list[Path]) -> tuple[dict[Path, tuple[str, ...]], list[str]]:
    """(caption alternatives per image, one report per image without a caption); both empty when no
    image has a caption."""
    found = _read_jsonl(root, set(files))
    for path in files:
        txt = path.with_suffix(".txt")
        if txt.is_file():
            try:
                text = txt.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise ValueError(f"cannot read caption file {txt}: {err}") from err
            found.setdefault(path, []).extend(
                line.strip() for line in text.splitlines() if line.strip()
            )
    captions = {path: tuple(dict.fromkeys(texts)) for path, texts in found.items() if texts}
    if not captions:
        return {}, []
    missing = [
        f"{path}: no caption (other images have one; add {path.stem}.txt beside it or a line in "
        f"{root / CAPTIONS_FILE})"
        for path in files
        if path not in captions
    ]
    return captions, missing


def load_image_folder(
    root: str | Path, size: int, channels: int | None = None, on_bad_file: str = "error"
) -> ImageArrays:
    """Every image under ``root``. Images in ``root/<class>/`` get that class; with no sub-folders
    all images are one class. ``channels`` None picks RGB if any image is in colour. Captions as the
    module says."""
    root = Path(root)
    if on_bad_file not in BAD_FILE_POLICIES:
        raise ValueError(f"on_bad_file must be one of {BAD_FILE_POLICIES}, got {on_bad_file!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    files, bad, class_names = _list_files(root)
    captions, uncaptioned = _read_captions(root, [p for p, _ in files])
    bad += uncaptioned
    if captions:
        files = [(p, label) for p, label in files if p in captions]
    check_limit(f"the number of classes (sub-folders) in {root}", len(class_names), "classes")
    channels = channels or _guess_channels([p for p, _ in files])
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    check_memory(
        3 * len(files) * channels * size * size,
        f"loading {len(files)} images of {size}x{size} from {root}",
    )
    images, labels, texts = [], [], []
    for path, label in files:
        try:
            images.append(load_image(path, size, channels))
        except BadImageError as err:
            bad.append(str(err))
            continue
        labels.append(label)
        if captions:
            texts.append(captions[path])
    if bad and on_bad_file == "error":
        shown = "\n  ".join(bad[:_SHOWN]) + (
            f"\n  ... and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
        )
        raise BadImageError(
            f"{len(bad)} bad file(s) in {root} (pass --on-bad-file skip to leave them out):\n"
            f"  {shown}"
        )
    if not images:
        raise ValueError(
            f"image folder {root} has no usable images ({len(bad)} bad file(s) skipped)"
        )
    return ImageArrays.from_numpy(
        np.stack(images), np.array(labels, dtype=np.int64), class_names, tuple(bad), tuple(texts)
    )
