"""Captions: read from image folders (.txt beside an image, captions.jsonl at the root), checked in
the in-memory data sets, and drawn per image by caption_batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from patchforcing.data import DataConfig, ImageArrays, LatentArrays, load_dataset
from patchforcing.data.folder import BadImageError, load_image_folder


def _image(path: Path, value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two classes of two images each."""
    root = tmp_path / "images"
    for cls in ("cat", "dog"):
        for i in range(2):
            _image(root / cls / f"{cls}{i}.png", 60 * i + 10)
    return root


def _by_file(data: ImageArrays, root: Path) -> dict[str, tuple[str, ...]]:
    """Captions keyed by file, in the loader's (sorted) file order."""
    return dict(zip(sorted(str(p.relative_to(root)) for p in root.rglob("*.png")), data.captions))


def test_txt_files_beside_images(folder: Path) -> None:
    (folder / "cat/cat0.txt").write_text("a grey cat\n\n  a cat  \n")
    (folder / "cat/cat1.txt").write_text("a cat\n")
    (folder / "dog/dog0.txt").write_text("a dog\na dog\n")
    (folder / "dog/dog1.txt").write_text("a puppy")
    data = load_image_folder(folder, 8)
    assert data.has_captions and len(data) == 4 and data.skipped == ()
    assert _by_file(data, folder) == {
        "cat/cat0.png": ("a grey cat", "a cat"),
        "cat/cat1.png": ("a cat",),
        "dog/dog0.png": ("a dog",),
        "dog/dog1.png": ("a puppy",),
    }
    assert data.class_names == ("cat", "dog")


def test_captions_jsonl_adds_alternatives(folder: Path) -> None:
    lines = [
        {"file": "cat/cat0.png", "caption": "a cat"},
        {"file": "cat/cat1.png", "caption": ["a cat", "kitty"]},
        {"file": "./dog/dog0.png", "caption": "a dog"},
        {"file": "dog/dog1.png", "caption": "a puppy"},
        {"file": "dog/dog1.png", "caption": ["a young dog"]},
    ]
    (folder / "captions.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    (folder / "cat/cat0.txt").write_text("a sleeping cat\n")
    data = load_dataset(DataConfig(source=str(folder), image_size=8))
    assert _by_file(data, folder) == {
        "cat/cat0.png": ("a cat", "a sleeping cat"),
        "cat/cat1.png": ("a cat", "kitty"),
        "dog/dog0.png": ("a dog",),
        "dog/dog1.png": ("a puppy", "a young dog"),
    }


def test_images_without_captions_are_listed_or_skipped(folder: Path) -> None:
    (folder / "cat/cat0.txt").write_text("a cat\n")
    (folder / "dog/dog1.txt").write_text("\n  \n")  # empty: no caption
    with pytest.raises(BadImageError) as info:
        load_image_folder(folder, 8)
    message = str(info.value)
    assert "3 bad file(s)" in message and all(
        f"{n}.png: no caption" in message for n in ("cat1", "dog0", "dog1")
    )
    data = load_image_folder(folder, 8, on_bad_file="skip")
    assert len(data) == 1 and data.captions == (("a cat",),) and len(data.skipped) == 3
    assert int(data.labels[0]) == 0 and data.class_names == ("cat", "dog")


def test_folder_without_captions_and_stray_text_files(folder: Path) -> None:
    data = load_image_folder(folder, 8)
    assert not data.has_captions and data.captions == ()
    (folder / "dog/notes.txt").write_text("not beside an image")
    with pytest.raises(BadImageError, match="notes.txt: not an image file"):
        load_image_folder(folder, 8)


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "line 2: not valid JSON"),
        ('["cat/cat0.png", "a cat"]', "line 2: each line must be"),
        ('{"file": "cat/cat0.png"}', "line 2: each line must be"),
        ('{"file": "cat/cat0.png", "caption": ""}', "line 2: 'caption' must be a non-empty string"),
        (
            '{"file": "cat/cat0.png", "caption": ["a", 3]}',
            "line 2: 'caption' must be a non-empty string",
        ),
        (
            '{"file": "cat/missing.png", "caption": "a cat"}',
            "line 2: 'cat/missing.png' is not an image file",
        ),
    ],
)
def test_bad_jsonl_lines_name_file_and_line(folder: Path, line: str, message: str) -> None:
    (folder / "captions.jsonl").write_text(
        '{"file": "dog/dog0.png", "caption": "a dog"}\n' + line + "\n"
    )
    with pytest.raises(ValueError, match=message) as info:
        load_image_folder(folder, 8)
    assert str(folder / "captions.jsonl") in str(info.value)


def _captioned(count: int = 6) -> ImageArrays:
    captions = tuple(tuple(f"image {i} text {k}" for k in range(i % 3 + 1)) for i in range(count))
    return ImageArrays(
        torch.zeros(count, 1, 4, 4, dtype=torch.uint8),
        torch.zeros(count, dtype=torch.long),
        captions=captions,
    )


def test_caption_batch_is_deterministic_under_a_seed_and_uniform() -> None:
    data = _captioned()
    index = torch.tensor([2, 5, 0, 2, 2, 1])
    first = data.caption_batch(index, torch.Generator().manual_seed(3))
    assert first == data.caption_batch(index, torch.Generator().manual_seed(3))
    assert all(text in data.captions[i] for text, i in zip(first, index.tolist()))
    draws = data.caption_batch(torch.full((3000,), 2), torch.Generator().manual_seed(0))
    counts = [draws.count(text) for text in data.captions[2]]
    assert all(900 < c < 1100 for c in counts)  # 1000 expected each; sd about 26


def test_caption_checks() -> None:
    data = ImageArrays(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="has no captions"):
        data.caption_batch(torch.tensor([0]))
    with pytest.raises(ValueError, match="2 images, 1 caption tuples"):
        ImageArrays(data.images, data.labels, captions=(("a",),))
    with pytest.raises(ValueError, match="image 1 must be a non-empty tuple"):
        ImageArrays(data.images, data.labels, captions=(("a",), ("b", " ")))
    with pytest.raises(ValueError, match="image 0 must be a non-empty tuple"):
        ImageArrays(data.images, data.labels, captions=((), ("b",)))
    with pytest.raises(ValueError, match="1-D index"):
        _captioned().caption_batch(torch.tensor(0))
    latents = LatentArrays(
        torch.zeros(2, 4, 2, 2), torch.zeros(2, dtype=torch.long), 1.0, captions=(("a",), ("b",))
    )
    assert latents.has_captions and latents.caption_batch(torch.tensor([1, 0])) == ["b", "a"]
