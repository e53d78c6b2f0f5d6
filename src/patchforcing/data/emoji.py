"""Colour emoji with captions: Google's Noto emoji (64x64 RGBA) from the npm package
``emoji-datasource-google``.

Install (once; nothing is downloaded at run time)::

    npm pack emoji-datasource-google@16.0.0
    python -m patchforcing.data.emoji install --tarball emoji-datasource-google-16.0.0.tgz

(``bash scripts/setup.sh`` does both when npm is present.) The install folder is
``~/.cache/patchforcing/emoji``, ``$PATCHFORCING_EMOJI`` or ``--data-dir``, and holds
``emoji.json``, ``LICENSE`` (the package's, MIT) and ``img/google/64/*.png``
(Noto Emoji images, Apache-2.0).

Images: every emoji except the category "Component" (the bare skin-tone swatches), plus each
skin-tone variation as an image of its own; RGBA composited onto white, resized with Lanczos
(64 keeps the stored size). Label: the category, classes in the data's order (Smileys & Emotion,
People & Body, Animals & Nature, Food & Drink, Travel & Places, Activities, Objects,
Symbols, Flags).
Split: an emoji is a test image when the first 8 bytes of the sha256 of its base code points
(``unified`` of the emoji, e.g. ``"1F44B"``), read as a big-endian integer, are below 10 modulo 100;
all skin tones of an emoji share its split, so about 10% of the images are test images on
every machine.

Captions, all lower case, alternatives in this order (duplicates dropped):

1. the name (``"grinning face"``);
2. each short name, ``_`` and in-word ``-`` read as spaces (``"smiling face with 3 hearts"``);
3. the everyday English name, the CLDR short name of the PyPI package ``emoji``
   (:mod:`patchforcing.data.emoji_names`), written as the short names (``"red heart"`` for the
   Unicode name ``"heavy black heart"``);
4. ``"<name>, <subcategory>, <category>"`` with ``-`` as a space and ``&`` as "and"
   (``"grinning face, face smiling, smileys and emotion"``);
5. a category keyword: "a smiley", "a person", "an animal", "food", "a place", "an activity",
   "an object", "a symbol", "a flag"; some subcategories name their own ("a face", "a hand",
   "a body part", "a plant", "a drink", "a vehicle", "weather").

A skin-tone variation adds its tones to each name-like alternative (1, 2, 3 and the name in 4) and
the keyword, with the Unicode tone names: ``"waving hand sign: medium skin tone"``, two-person emoji
``"...: light skin tone, dark skin tone"``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from patchforcing.data.arrays import ImageArrays
from patchforcing.data.emoji_names import everyday_name
from patchforcing.data.folder import MAX_UPSCALE, to_8bit
from patchforcing.utils.limits import check_memory

__all__ = [
    "EMOJI_PACKAGE",
    "EMOJI_ENV",
    "STORED_SIZE",
    "TEST_PERCENT",
    "SKIN_TONES",
    "EmojiImage",
    "emoji_dir",
    "find_emoji",
    "read_emoji_json",
    "emoji_captions",
    "is_test_emoji",
    "load_emoji",
    "install_emoji",
    "main",
]

EMOJI_PACKAGE = "emoji-datasource-google@16.0.0"
EMOJI_ENV = "PATCHFORCING_EMOJI"
STORED_SIZE = 64
TEST_PERCENT = 10
SKIN_TONES = {
    "1F3FB": "light skin tone",
    "1F3FC": "medium-light skin tone",
    "1F3FD": "medium skin tone",
    "1F3FE": "medium-dark skin tone",
    "1F3FF": "dark skin tone",
}  # Unicode's names of the modifiers
_DROPPED = ("Component",)
_IMAGES = "img/google/64"
_MEMBER = re.compile(r"package/(emoji\.json|LICENSE|img/google/64/[0-9A-Fa-f-]+\.png)")
_KEYWORDS = {
    "Smileys & Emotion": "a smiley",
    "People & Body": "a person",
    "Animals & Nature": "an animal",
    "Food & Drink": "food",
    "Travel & Places": "a place",
    "Activities": "an activity",
    "Objects": "an object",
    "Symbols": "a symbol",
    "Flags": "a flag",
}
_SUBCATEGORY_KEYWORDS = (
    ("face-", "a face"),
    ("hand", "a hand"),
    ("body-parts", "a body part"),
    ("plant-", "a plant"),
    ("drink", "a drink"),
    ("transport-ground", "a vehicle"),
    ("transport-air", "a vehicle"),
    ("transport-water", "a vehicle"),
    ("sky & weather", "weather"),
)  # prefixes, first match wins
_INSTALL_HINT = (
    f"install it with `bash scripts/setup.sh` (needs npm), or run `npm pack {EMOJI_PACKAGE}` and "
    "`python -m patchforcing.data.emoji install --tarball emoji-datasource-google-16.0.0.tgz`, or "
    f"pass --data-dir (or set {EMOJI_ENV}) pointing at a folder with emoji.json and {_IMAGES}/"
)


@dataclass(frozen=True)
class EmojiImage:
    """One image of the data set: its code points, its base emoji's (the split key), file
    and texts."""

    unified: str  # e.g. "1F44B-1F3FD"
    group: str  # the base emoji's code points, e.g. "1F44B"
    image: str  # file name under img/google/64
    category: str
    captions: tuple[str, ...]


def emoji_dir(directory: str | Path | None = None) -> Path:
    """The install folder: ``directory``, else ``$PATCHFORCING_EMOJI``, else
    ``~/.cache/patchforcing/emoji``."""
    if directory:
        return Path(directory)
    if os.environ.get(EMOJI_ENV):
        return Path(os.environ[EMOJI_ENV])
    return Path.home() / ".cache" / "patchforcing" / "emoji"


def _installed(folder: Path) -> bool:
    return (folder / "emoji.json").is_file() and (folder / _IMAGES).is_dir()


def find_emoji(directory: str | Path | None = None) -> Path:
    """The install folder of :func:`emoji_dir`, or FileNotFoundError saying how to install it."""
    folder = emoji_dir(directory)
    if not _installed(folder):
        raise FileNotFoundError(f"the emoji data set is not installed in {folder}: {_INSTALL_HINT}")
    return folder


def _words(text: str) -> str:
    """Lower case, with ``_`` and in-word ``-`` as spaces and ``&`` as "and"."""
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text.lower().replace("_", " ").replace("&", "and"))
    return " ".join(text.split())


def _keyword(category: str, subcategory: str) -> str:
    for prefix, keyword in _SUBCATEGORY_KEYWORDS:
        if subcategory.startswith(prefix):
            return keyword
    return _KEYWORDS.get(category, _words(category))


def emoji_captions(entry: dict[str, Any], tones: str = "") -> tuple[str, ...]:
    """The caption alternatives of an emoji.json entry (rules in the module docstring); ``tones``
    names the skin tones of a variation (e.g. "medium skin tone")."""
    suffix = f": {tones}" if tones else ""
    name = " ".join(entry["name"].lower().split())
    everyday = everyday_name(str(entry["unified"]))
    texts = [
        name + suffix,
        *(_words(s) + suffix for s in entry["short_names"]),
        *([_words(everyday) + suffix] if everyday else []),
        f"{name}{suffix}, {_words(entry['subcategory'])}, {_words(entry['category'])}",
        _keyword(entry["category"], entry["subcategory"]) + suffix,
    ]
    return tuple(dict.fromkeys(texts))


def _tone_names(code: str, where: Path) -> str:
    """ "1F3FB-1F3FF" -> "light skin tone, dark skin tone" (a repeated tone is named once)."""
    codes = list(dict.fromkeys(code.upper().split("-")))
    unknown = [c for c in codes if c not in SKIN_TONES]
    if unknown:
        raise ValueError(
            f"{where}: unknown skin-tone code(s) {unknown}; expected some of {sorted(SKIN_TONES)}"
        )
    return ", ".join(SKIN_TONES[c] for c in codes)


def read_emoji_json(folder: Path) -> tuple[list[EmojiImage], tuple[str, ...]]:
    """(every image with a Google picture, in the data's sort order with its skin tones after it;
    class names = categories in the order they first appear). "Component" is left out."""
    path = folder / "emoji.json"
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        entries = sorted(
            (e for e in entries if e["category"] not in _DROPPED), key=lambda e: e["sort_order"]
        )
        images = []
        for e in entries:
            if e.get("has_img_google", True):
                images.append(
                    EmojiImage(
                        e["unified"], e["unified"], e["image"], e["category"], emoji_captions(e)
                    )
                )
            for code, variant in (e.get("skin_variations") or {}).items():
                if variant.get("has_img_google", True):
                    images.append(
                        EmojiImage(
                            variant["unified"],
                            e["unified"],
                            variant["image"],
                            e["category"],
                            emoji_captions(e, _tone_names(code, path)),
                        )
                    )
    except (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        KeyError,
        TypeError,
        AttributeError,
    ) as err:
        raise ValueError(
            f"{path} is not a readable emoji.json of {EMOJI_PACKAGE} ({type(err).__name__}: "
            f"{err}); reinstall: {_INSTALL_HINT}"
        ) from err
    return images, tuple(dict.fromkeys(image.category for image in images))


def is_test_emoji(group: str) -> bool:
    """Whether the emoji with base code points ``group`` is in the test split
    (about TEST_PERCENT %)."""
    return (
        int.from_bytes(hashlib.sha256(group.encode("utf-8")).digest()[:8], "big") % 100
        < TEST_PERCENT
    )


def _load_png(path: Path, size: int) -> np.ndarray:
    """(3, size, size) uint8: composited onto white, Lanczos-resized unless already ``size``."""
    try:
        with Image.open(path) as img:
            img = to_8bit(img, 3)
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
    except Exception as err:  # Pillow raises many types on damaged files
        reason = str(err) or type(err).__name__
        raise ValueError(
            f"cannot read emoji image {path}: {reason}; reinstall: {_INSTALL_HINT}"
        ) from err


def load_emoji(
    split: str = "train", data_dir: str | Path | None = None, image_size: int = 32
) -> ImageArrays:
    """The train or test split as (M, 3, image_size, image_size) uint8 RGB, labels = categories,
    with captions."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not isinstance(image_size, int) or not 1 <= image_size <= STORED_SIZE * MAX_UPSCALE:
        raise ValueError(
            f"emoji image_size must be an integer in [1, {STORED_SIZE * MAX_UPSCALE}] (stored at "
            f"{STORED_SIZE}), got {image_size!r}"
        )
    folder = find_emoji(data_dir)
    records, class_names = read_emoji_json(folder)
    chosen = [r for r in records if is_test_emoji(r.group) == (split == "test")]
    missing = [r.image for r in chosen if not (folder / _IMAGES / r.image).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} emoji image(s) are missing from {folder / _IMAGES} (e.g. "
            f"{missing[0]}); remove {folder} and {_INSTALL_HINT}"
        )
    check_memory(
        3 * len(chosen) * 3 * image_size * image_size,
        f"loading {len(chosen)} emoji of {image_size}px",
    )
    images = np.stack(
        [_load_png(folder / _IMAGES / r.image, image_size) for r in chosen]
    )  # (M, 3, S, S)
    labels = np.array([class_names.index(r.category) for r in chosen], dtype=np.int64)
    return ImageArrays.from_numpy(
        images, labels, class_names, captions=tuple(r.captions for r in chosen)
    )


def _extract(tarball: Path, into: Path) -> int:
    """Write the package's emoji.json, LICENSE and 64 px images into ``into``; the number
    of images."""
    count = 0
    try:
        with tarfile.open(tarball, "r:*") as archive:
            for member in archive:
                match = _MEMBER.fullmatch(member.name)
                source = archive.extractfile(member) if match and member.isfile() else None
                if match is None or source is None:
                    continue
                dest = into / match.group(1)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(source.read())
                count += dest.suffix == ".png"
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise ValueError(
            f"cannot read {tarball} as the npm tarball of {EMOJI_PACKAGE}: {err}"
        ) from err
    if not (into / "emoji.json").is_file() or count == 0:
        raise ValueError(
            f"{tarball} is not the npm tarball of {EMOJI_PACKAGE} (no package/emoji.json or "
            f"package/{_IMAGES}/*.png); get it with `npm pack {EMOJI_PACKAGE}`"
        )
    return count


def install_emoji(tarball: str | Path, directory: str | Path | None = None) -> Path:
    """Extract emoji.json, LICENSE and img/google/64/*.png from the npm tarball into the install
    folder (:func:`emoji_dir`); an existing install is kept. The files are written beside the folder
    and renamed into place when complete. Returns the folder."""
    tarball, target = Path(tarball), emoji_dir(directory)
    if _installed(target):
        return target
    if not tarball.is_file():
        raise FileNotFoundError(
            f"tarball {tarball} does not exist; get it with `npm pack {EMOJI_PACKAGE}`"
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValueError(
            f"{target} exists and is not an emoji install; empty it or pass another --data-dir"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _extract(tarball, staging)
        os.replace(staging, target)  # replaces an empty folder too
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m patchforcing.data.emoji install --tarball FILE [--data-dir DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m patchforcing.data.emoji",
        allow_abbrev=False,
        description=f"Install the emoji data set from the npm tarball of {EMOJI_PACKAGE} "
        f"(get it with `npm pack {EMOJI_PACKAGE}`).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    install = actions.add_parser(
        "install", help="extract the data set from the tarball", allow_abbrev=False
    )
    install.add_argument(
        "--tarball", required=True, help="emoji-datasource-google-16.0.0.tgz from `npm pack`"
    )
    install.add_argument(
        "--data-dir", help=f"install folder (default: ${EMOJI_ENV} or ~/.cache/patchforcing/emoji)"
    )
    args = parser.parse_args(argv)
    try:
        folder = install_emoji(args.tarball, args.data_dir)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"emoji data set ready in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
