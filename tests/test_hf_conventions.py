"""Hugging Face conventions of the model API: save_pretrained writes into an existing folder,
from_pretrained takes torch_dtype and device and fetches hub ids through the hub cache (read
offline here from a cache laid out as the hub client writes it), model cards carry the hub's
metadata header, and generated images turn into PIL images."""

from __future__ import annotations

import sys

import pytest
import torch
from PIL import Image

from patchforcing import ModelConfig, PatchForcingDiT, load_model, save_images, to_pil_images
from patchforcing.model.pretrained import CheckpointError

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # a snapshot's revision in the cache


@pytest.fixture
def hub_cache(tmp_path, tiny_model, monkeypatch):
    """A hub cache holding the repository ``someone/tiny`` (refs/main -> one snapshot), the layout
    huggingface_hub reads with ``local_files_only``; HF_HUB_CACHE points at it."""
    pytest.importorskip("huggingface_hub")
    cache = tmp_path / "hub"
    repo = cache / "models--someone--tiny"
    tiny_model.save_pretrained(repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    return repo / "snapshots" / COMMIT


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_save_into_an_existing_folder_replaces_only_its_files(tmp_path, tiny_model, tiny_config):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    (folder / "README.md").write_text("an old card")
    assert tiny_model.save_pretrained(folder) == folder
    other = PatchForcingDiT(tiny_config)  # zero-initialised: other weights than tiny_model's
    other.save_pretrained(folder)  # a second save replaces the first, as Hugging Face's does
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "notes.txt",
    ]
    assert (folder / "notes.txt").read_text() == "keep me"
    assert (folder / "README.md").read_text().startswith("---\nlibrary_name:")
    assert _same_weights(PatchForcingDiT.from_pretrained(folder), other)
    tiny_model.save_pretrained(tmp_path / "new" / "deeper")  # parents are created
    assert (tmp_path / "new" / "deeper" / "config.json").is_file()


def test_save_refuses_folders_whose_other_model_files_would_mix_in(tmp_path, tiny_model):
    folder = tiny_model.save_pretrained(tmp_path / "ckpt")
    (folder / "ema.safetensors").write_bytes(b"a training checkpoint's EMA weights")
    before = (folder / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="holds ema.safetensors, which this model would not"):
        tiny_model.save_pretrained(folder)
    assert (folder / "model.safetensors").read_bytes() == before  # nothing written
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        tiny_model.save_pretrained(tmp_path / "file")


def test_torch_dtype_and_device(tmp_path, tiny_model):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    for dtype in (torch.bfloat16, "bfloat16", "torch.bfloat16"):
        model = PatchForcingDiT.from_pretrained(folder, torch_dtype=dtype, device="cpu")
        assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    auto = PatchForcingDiT.from_pretrained(folder, torch_dtype="auto")
    assert {p.dtype for p in auto.parameters()} == {torch.float32} and _same_weights(
        auto, tiny_model
    )
    assert load_model(folder, torch_dtype=torch.float16).config == tiny_model.config
    assert next(load_model(folder, torch_dtype=torch.float16).parameters()).dtype == torch.float16
    for bad in ("float8", torch.int64):
        with pytest.raises(ValueError, match="torch_dtype must be"):
            PatchForcingDiT.from_pretrained(folder, torch_dtype=bad)


def test_hub_ids_load_from_the_hub_cache_offline(hub_cache, tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = PatchForcingDiT.from_pretrained("someone/tiny")
    assert model.source == hub_cache and _same_weights(model, tiny_model)
    assert _same_weights(
        PatchForcingDiT.from_pretrained("someone/tiny", local_files_only=True), tiny_model
    )
    with pytest.raises(CheckpointError, match="someone/missing.*only the local hub cache is read"):
        PatchForcingDiT.from_pretrained("someone/missing")


def test_hub_ids_are_fetched_unless_offline(hub_cache, monkeypatch):
    import huggingface_hub

    calls = []

    def snapshot_download(repo_id, **options):  # stands in for the network
        calls.append((repo_id, options))
        return str(hub_cache)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    PatchForcingDiT.from_pretrained("someone/tiny")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    PatchForcingDiT.from_pretrained("someone/tiny")
    (_, fetch), (_, offline) = calls
    assert fetch["local_files_only"] is False and offline["local_files_only"] is True
    assert (
        fetch["library_name"] == "patchforcing" and "model.safetensors" in fetch["allow_patterns"]
    )


def test_without_the_hub_extra_the_error_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    with pytest.raises(CheckpointError, match=r"pip install 'patchforcing\[hub\]'"):
        PatchForcingDiT.from_pretrained("someone/tiny")


@pytest.mark.parametrize(
    "name, task, dataset",
    [
        ("fmnist-pf", "unconditional-image-generation", "zalando-datasets/fashion_mnist"),
        ("emoji-t2i", "text-to-image", None),
        ("fmnist-classifier", "image-classification", "zalando-datasets/fashion_mnist"),
        ("emoji-clip", "zero-shot-image-classification", None),
    ],
)
def test_model_cards_pass_the_hub_card_checks(name, task, dataset, tmp_path):
    hub = pytest.importorskip("huggingface_hub")
    from patchforcing.model.shipped import shipped_path

    for folder in (shipped_path(name), tmp_path):  # the shipped card and a freshly written one
        if folder == tmp_path:
            from patchforcing.model.pretrained.card import model_card
            from patchforcing.model.pretrained.meta import read_meta

            (tmp_path / "README.md").write_text(model_card(read_meta(shipped_path(name)), name, 1))
        card = hub.ModelCard.load(folder / "README.md")  # parses and checks the YAML header
        data = card.data.to_dict()
        assert data["library_name"] == "patchforcing" and data["license"] == "mit"
        assert data["pipeline_tag"] == task and "patch-forcing" in data["tags"]
        assert data.get("datasets") == ([dataset] if dataset else None)
        assert hub.metadata_load(folder / "README.md") == data


def test_generated_images_as_pil_and_files(tmp_path):
    images = torch.linspace(-1, 1, 2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # (B, C, H, W)
    pictures = to_pil_images(images)
    assert [(p.mode, p.size) for p in pictures] == [("RGB", (5, 4))] * 2
    assert pictures[0].getpixel((0, 0)) == (
        0,
        43,
        86,
    )  # round((1 + x) * 127.5) and pictures[1].getpixel((4, 3))[2] == 255
    assert to_pil_images(images[:, :1])[0].mode == "L"
    paths = save_images(images, tmp_path, ["a", "b"])
    with Image.open(paths[1]) as saved:
        assert saved.tobytes() == pictures[1].tobytes()
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1 or 3, H, W\)"):
        to_pil_images(images[0])


def test_the_arguments_of_release_0_1_still_work_with_a_warning(tmp_path):
    model = PatchForcingDiT(
        ModelConfig(image_size=8, in_channels=1, patch_size=2, depth=1, width=16, num_heads=2)
    )
    folder = model.save_pretrained(tmp_path / "m")
    with pytest.warns(DeprecationWarning, match="export_folder"):
        model.save_pretrained(folder, overwrite=True)  # 0.1's whole-folder replace
    with pytest.warns(DeprecationWarning, match="local_files_only"):
        loaded = PatchForcingDiT.from_pretrained(folder, download=False)
    assert loaded.config == model.config
    with pytest.raises(ValueError, match="already holds a model folder"):  # as 0.1 refused it
        with pytest.warns(DeprecationWarning):
            model.save_pretrained(folder, overwrite=False)
