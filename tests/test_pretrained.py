"""Model folders: save_pretrained / from_pretrained round trips, one schema for every model kind,
folders of earlier versions keep loading, and writes never replace files the package did
not write."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch
from safetensors.torch import save_file

from patchforcing.cli.main import main
from patchforcing.evaluation.metrics import ClassifierConfig, FeatureClassifier
from patchforcing.model import ModelConfig, PatchForcingDiT
from patchforcing.model.pretrained import CheckpointError, read_meta
from patchforcing.train import TrainConfig
from patchforcing.train.config import config_to_json


def _outputs(model: PatchForcingDiT) -> torch.Tensor:
    c = model.config
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, c.in_channels, c.image_size, c.image_size, generator=gen)
    with torch.no_grad():
        out = model(x, torch.rand(2, c.num_patches, generator=gen), torch.tensor([0, 1]))
    return torch.cat([out.v, out.logvar], dim=1)


def test_round_trip_is_bitwise(tmp_path, tiny_model):
    folder = tiny_model.save_pretrained(
        tmp_path / "m", tiny_model.make_meta(class_names=("a", "b", "c"))
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    loaded = PatchForcingDiT.from_pretrained(folder)
    for (name, a), (_, b) in zip(tiny_model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.equal(_outputs(loaded), _outputs(tiny_model)) and not loaded.training
    values = json.loads((folder / "config.json").read_text())
    assert values["format_version"] == 2 and values["model_type"] == "patchforcing-dit"
    assert values["architecture"] == asdict(tiny_model.config)
    assert values["data"] == {
        "channels": 1,
        "image_size": 8,
        "value_range": [-1.0, 1.0],
        "space": "pixels",
        "class_names": ["a", "b", "c"],
    }
    assert values["layout"]["patches"] == {"size": 2, "grid": [4, 4], "order": "row-major"}
    card = (folder / "README.md").read_text()
    assert "Patch Forcing DiT" in card and "a, b, c" in card and 'from_pretrained("m")' in card


def test_the_classifier_uses_the_same_schema(tmp_path):
    model = FeatureClassifier(
        ClassifierConfig(image_size=8, num_classes=3, widths=(4, 4, 4), feature_dim=8)
    ).eval()
    folder = model.save_pretrained(tmp_path / "clf")
    meta = read_meta(folder)
    assert (meta.model_type, meta.architecture["widths"], meta.data.channels) == (
        "feature-classifier",
        [4, 4, 4],
        1,
    )
    loaded = FeatureClassifier.from_pretrained(folder)
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(loaded(x), model(x))
    with pytest.raises(
        CheckpointError, match="'feature-classifier' model, not a 'patchforcing-dit'"
    ):
        PatchForcingDiT.from_pretrained(folder)


def test_folders_of_earlier_versions_load(tmp_path, tiny_model, tiny_config: ModelConfig):
    """Version 1: config.json was the training config (exports, checkpoints, converted files) and
    the classifier had its own {config, info} layout."""
    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "config.json").write_text(
        config_to_json(TrainConfig(model=tiny_config, out_dir="runs/x"))
    )
    save_file(
        {k: v.contiguous() for k, v in tiny_model.state_dict().items()},
        str(exported / "ema.safetensors"),
        metadata={"format_version": "1"},
    )
    loaded = PatchForcingDiT.from_pretrained(exported)
    assert torch.equal(_outputs(loaded), _outputs(tiny_model))
    assert loaded.meta.format_version == 1 and loaded.meta.training["out_dir"] == "runs/x"

    clf = FeatureClassifier(
        ClassifierConfig(image_size=8, num_classes=3, widths=(4, 4, 4), feature_dim=8)
    ).eval()
    old = tmp_path / "old-clf"
    old.mkdir()
    (old / "config.json").write_text(
        json.dumps({"config": asdict(clf.config), "info": {"test_accuracy": 0.5}})
    )
    save_file(clf.state_dict(), str(old / "model.safetensors"))
    assert FeatureClassifier.from_pretrained(old).meta.training == {"test_accuracy": 0.5}


def test_a_damaged_or_foreign_config_is_a_clear_error(tmp_path, tiny_model):
    folder = tiny_model.save_pretrained(tmp_path / "m")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read model config"):
        PatchForcingDiT.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a patchforcing model config"):
        PatchForcingDiT.from_pretrained(folder)
    with pytest.raises(CheckpointError, match="is a file"):
        PatchForcingDiT.from_pretrained(folder / "model.safetensors")


def test_commands_never_replace_foreign_files(tmp_path, tiny_model):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty and is not a model folder"):
        tiny_model.export_folder(mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    folder = tiny_model.export_folder(tmp_path / "m")
    with pytest.raises(ValueError, match="already holds a model"):
        tiny_model.export_folder(folder)
    tiny_model.export_folder(folder, overwrite=True)
    (tmp_path / "empty").mkdir()
    tiny_model.export_folder(tmp_path / "empty")


def test_export_refuses_foreign_and_inner_destinations(tmp_path, tiny_npz, capsys):
    run = tmp_path / "run"
    tiny = [
        "--preset",
        "T/4",
        "--depth",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--patch-size",
        "2",
        "--threads",
        "1",
        "--no-progress",
    ]
    assert (
        main(
            [
                "train",
                "--data",
                str(tiny_npz),
                *tiny,
                "--steps",
                "2",
                "--batch-size",
                "8",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    assert (
        main(["export", str(run), str(run)]) == 2 and "inside the source" in capsys.readouterr().err
    )
    assert main(["export", str(run), str(run / "checkpoints" / "x")]) == 2
    assert (
        main(["export", str(run), str(tmp_path)]) == 2
        and "not a model folder" in capsys.readouterr().err
    )
    assert sorted(p.name for p in run.iterdir()) == [
        ".lock",
        "checkpoints",
        "config.json",
        "data.json",
        "metrics.jsonl",
        "run_id",
        "samples",
    ]
    assert main(["export", str(run), str(tmp_path / "out")]) == 0
    model = PatchForcingDiT.from_pretrained(tmp_path / "out")
    assert (
        model.meta.data.class_names == ("a", "b", "c") and model.meta.training["weights"] == "ema"
    )
    assert (
        main(["export", str(run), str(tmp_path / "out")]) == 2
        and "--overwrite" in capsys.readouterr().err
    )
    assert (
        main(["export", str(run), str(tmp_path / "out"), "--overwrite", "--weights", "online"]) == 0
    )


def test_hub_ids_read_only_the_local_cache_offline(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="only the local hub cache is read"):
        PatchForcingDiT.from_pretrained("someone/some-model")
