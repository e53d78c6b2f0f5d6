"""Bad input data: every awkward file is converted or reported by name; loaders never crash."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from patchforcing.data import BadImageError, DataConfig, load_dataset
from patchforcing.data.fashion_mnist import read_idx
from patchforcing.data.folder import load_image, load_image_folder
from patchforcing.data.npz import load_npz

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
BAD = ["truncated.png", "empty.png", "text.png", "notes.txt", "tiny.png", "truncated.jpg"]


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        Image.new("L", (16, 16), 10).save(root / cls / "good.png")
    a = root / "a"
    png = encoded(Image.new("L", (16, 16), 200), "PNG")
    jpg = encoded(Image.radial_gradient("L").resize((64, 64)), "JPEG")
    (a / "truncated.png").write_bytes(png[: len(png) // 2])
    (a / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    (a / "empty.png").write_bytes(b"")
    (a / "text.png").write_text("not an image")
    (a / "notes.txt").write_text("not an image either")
    (a / ".DS_Store").write_bytes(b"\0\0")  # hidden: ignored
    Image.new("L", (2, 2), 9).save(a / "tiny.png")
    Image.new("CMYK", (16, 16), (0, 0, 0, 0)).save(a / "cmyk.jpg")
    Image.fromarray(np.full((16, 16), 257 * 128, dtype=np.uint16)).save(a / "deep16.png")
    Image.new("L", (16, 16), 77).convert("P").save(a / "palette.png")
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(a / "alpha.png")
    Image.new("LA", (16, 16), (0, 255)).save(a / "grey_alpha.png")
    return root


def test_error_policy_lists_every_bad_file(bad_folder: Path) -> None:
    with pytest.raises(BadImageError) as info:
        load_dataset(DataConfig(source=str(bad_folder), image_size=16, channels=1))
    message = str(info.value)
    assert f"{len(BAD)} bad file(s)" in message and "--on-bad-file skip" in message
    assert all(name in message for name in BAD) and ".DS_Store" not in message


def test_skip_policy_converts_the_rest_and_counts(bad_folder: Path) -> None:
    data = load_dataset(
        DataConfig(source=str(bad_folder), image_size=16, channels=1, on_bad_file="skip")
    )
    assert sorted(Path(s.split(": ")[0]).name for s in data.skipped) == sorted(BAD)
    assert len(data) == 7 and data.class_names == ("a", "b")
    value = {
        n: int(data.images[i].float().mean().round())
        for i, n in enumerate(
            ["alpha.png", "cmyk.jpg", "deep16.png", "good.png", "grey_alpha.png", "palette.png"]
        )
    }
    assert value == {
        "alpha.png": 255,
        "cmyk.jpg": 255,
        "deep16.png": 128,
        "good.png": 10,
        "grey_alpha.png": 0,
        "palette.png": 77,
    }


def test_rgb_conversion_of_every_mode(bad_folder: Path) -> None:
    data = load_image_folder(bad_folder, 16, channels=3, on_bad_file="skip")
    assert data.images.shape == (7, 3, 16, 16)
    assert (
        len(load_image_folder(bad_folder, 8, channels=3, on_bad_file="skip")) == 8
    )  # 2x2 may upscale 4x to 8x8


def test_folder_structure_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is empty"):
        load_image_folder(tmp_path / "empty", 8)
    (tmp_path / "classes" / "cat").mkdir(parents=True)
    (tmp_path / "classes" / "dog").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "classes" / "cat" / "x.png")
    with pytest.raises(ValueError, match="class folder .*dog is empty"):
        load_image_folder(tmp_path / "classes", 8)
    Image.new("L", (8, 8)).save(tmp_path / "classes" / "dog" / "y.png")
    Image.new("L", (8, 8)).save(tmp_path / "classes" / "loose.png")
    with pytest.raises(BadImageError, match="loose.png: outside any class folder"):
        load_image_folder(tmp_path / "classes", 8)
    with pytest.raises(ValueError, match="no usable images"):
        (tmp_path / "allbad").mkdir()
        (tmp_path / "allbad" / "x.png").write_bytes(b"")
        load_image_folder(tmp_path / "allbad", 8, on_bad_file="skip")


def test_npz_label_errors_name_the_file(tmp_path: Path) -> None:
    images = np.zeros((6, 8, 8), np.uint8)
    cases = {
        "beyond.npz": dict(labels=np.arange(6), class_names=np.array(["a", "b"])),
        "gaps.npz": dict(labels=np.array([0, 0, 2, 2, 5, 5])),
        "negative.npz": dict(labels=-np.arange(6)),
        "length.npz": dict(labels=np.arange(4)),
        "float.npz": dict(labels=np.zeros(6)),
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / name, images=images, **arrays)
        with pytest.raises(ValueError, match=name):
            load_npz(tmp_path / name)


def _check_rejects(call, path: Path) -> None:
    """``call`` either succeeds or raises a ValueError that names ``path`` (never anything else)."""
    try:
        call()
    except ValueError as err:
        assert str(path) in str(err)


@FUZZ
@given(
    data=st.binary(max_size=400), suffix=st.sampled_from([".png", ".jpg", ".gif", ".bmp", ".tif"])
)
def test_load_image_on_random_bytes(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    _check_rejects(lambda: load_image(path, 8, 3), path)


@FUZZ
@given(cut=st.integers(0, 400), noise=st.binary(min_size=1, max_size=64))
def test_load_image_on_damaged_png(tmp_path: Path, cut: int, noise: bytes) -> None:
    png = encoded(Image.new("RGB", (16, 16), (1, 2, 3)), "PNG")
    path = tmp_path / "damaged.png"
    path.write_bytes(png[:cut] + noise + png[cut + len(noise) :])
    _check_rejects(lambda: load_image(path, 8, 1), path)


@FUZZ
@given(data=st.binary(max_size=400), zipped=st.booleans())
def test_load_npz_on_random_bytes(tmp_path: Path, data: bytes, zipped: bool) -> None:
    path = tmp_path / "fuzz.npz"
    if zipped:  # a valid zip whose member is garbage
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("images.npy", data)
    else:
        path.write_bytes(data)
    _check_rejects(lambda: load_npz(path), path)


@FUZZ
@given(header=st.binary(min_size=0, max_size=40), body=st.binary(max_size=200), gz=st.booleans())
def test_read_idx_on_random_bytes(tmp_path: Path, header: bytes, body: bytes, gz: bool) -> None:
    import gzip

    path = tmp_path / ("fuzz.gz" if gz else "fuzz")
    raw = b"\0\0\x08" + header + body if header[:1] != b"\xff" else header + body
    path.write_bytes(gzip.compress(raw) if gz and body[:1] != b"\0" else raw)
    _check_rejects(lambda: read_idx(path), path)
