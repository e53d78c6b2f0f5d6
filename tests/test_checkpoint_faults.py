"""Checkpoint folders: atomic writes, ignored partial folders, version and shape checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from patchforcing.model import PatchForcingDiT, model_config_from_preset
from patchforcing.model.pretrained import MODEL_FORMAT_VERSION, latest_checkpoint, list_checkpoints
from patchforcing.train import CheckpointError, TrainConfig
from patchforcing.train.checkpoint import load_train_state, save_checkpoint
from patchforcing.train.config import FORMAT_VERSION
from patchforcing.utils.io.atomic import atomic_directory, remove_directory


def _tiny(width: int = 32) -> PatchForcingDiT:
    torch.manual_seed(0)
    return PatchForcingDiT(
        model_config_from_preset(
            "T/4", depth=1, width=width, num_heads=2, image_size=8, in_channels=1, num_classes=3
        )
    )


@pytest.fixture
def run(tmp_path: Path) -> Path:
    model = _tiny()
    config = TrainConfig(model=model.config, out_dir=str(tmp_path / "run"))
    state = {"optimizer": {}, "rng": torch.get_rng_state()}
    for step in (1, 2, 3):
        save_checkpoint(tmp_path / "run", step, config, model, model, state, keep=2)
    return tmp_path / "run"


def test_keeps_newest_and_leaves_no_temporaries(run: Path) -> None:
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step_00000002",
        "step_00000003",
    ]


def test_partial_folders_are_ignored(run: Path) -> None:
    partial = run / "checkpoints" / "step_00000009"
    partial.mkdir()
    (partial / "config.json").write_text("{")
    (run / "checkpoints" / ".step_00000010.pf-abcdefgh.tmp").mkdir()
    assert latest_checkpoint(run).name == "step_00000003"
    assert [p.name for p in list_checkpoints(run)] == ["step_00000002", "step_00000003"]


def test_atomic_directory_failure_leaves_nothing(tmp_path: Path) -> None:
    def fill(tmp: Path) -> None:
        (tmp / "a").write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_directory(tmp_path / "target", fill)
    assert list(tmp_path.iterdir()) == []
    atomic_directory(tmp_path / "target", lambda tmp: (tmp / "a").write_text("1"))
    with pytest.raises(FileExistsError, match="refusing to replace"):
        atomic_directory(tmp_path / "target", lambda tmp: (tmp / "b").write_text("2"))
    atomic_directory(tmp_path / "target", lambda tmp: (tmp / "b").write_text("2"), replace=True)
    assert [p.name for p in tmp_path.iterdir()] == ["target"]
    assert [p.name for p in (tmp_path / "target").iterdir()] == ["b"]
    remove_directory(tmp_path / "target")
    assert list(tmp_path.iterdir()) == []


def test_mismatched_model_names_the_first_tensor(run: Path) -> None:
    wide = _tiny(width=64)
    with pytest.raises(
        CheckpointError, match=r"tensor '[\w.]+' has shape \(\d+(, \d+)*\), the model expects"
    ):
        load_train_state(latest_checkpoint(run), wide, wide)
    weights = load_file(str(latest_checkpoint(run) / "model.safetensors"))
    del weights[sorted(weights)[0]]
    save_file(weights, str(latest_checkpoint(run) / "model.safetensors"))
    with pytest.raises(
        CheckpointError, match=f"missing tensor '{sorted(_tiny().state_dict())[0]}'"
    ):
        load_train_state(latest_checkpoint(run), _tiny(), _tiny())


def test_newer_config_version_is_refused(run: Path) -> None:
    path = latest_checkpoint(run) / "config.json"
    path.write_text(
        json.dumps({**json.loads(path.read_text()), "format_version": MODEL_FORMAT_VERSION + 1})
    )
    with pytest.raises(CheckpointError, match="newer than this patchforcing supports"):
        PatchForcingDiT.from_pretrained(run)


def test_newer_weights_version_is_refused(run: Path) -> None:
    path = latest_checkpoint(run) / "ema.safetensors"
    save_file(
        load_file(str(path)), str(path), metadata={"format_version": str(MODEL_FORMAT_VERSION + 1)}
    )
    with pytest.raises(
        CheckpointError, match=f"format version {MODEL_FORMAT_VERSION + 1}, newer than"
    ):
        PatchForcingDiT.from_pretrained(run)


def test_newer_train_state_version_is_refused(run: Path) -> None:
    path = latest_checkpoint(run) / "train_state.pt"
    torch.save({**torch.load(path, weights_only=True), "format_version": FORMAT_VERSION + 1}, path)
    with pytest.raises(CheckpointError, match="newer than"):
        load_train_state(latest_checkpoint(run), _tiny(), _tiny())


def test_damaged_files_raise_checkpoint_errors(run: Path) -> None:
    folder = latest_checkpoint(run)
    (folder / "train_state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="train_state.pt"):
        load_train_state(folder, _tiny(), _tiny())
    (folder / "model.safetensors").write_bytes(b"\x08\0\0\0\0\0\0\0{}")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        PatchForcingDiT.from_pretrained(run, ema=False)


def test_a_copy_under_another_step_name_is_not_a_checkpoint(run: Path) -> None:
    """The step stored in the weights must be the name's: a backup of step 2 copied to step_9 is
    neither resumed from nor pruned."""
    import shutil

    copy = run / "checkpoints" / "step_00000009"
    shutil.copytree(run / "checkpoints" / "step_00000002", copy)
    assert latest_checkpoint(run).name == "step_00000003"
    assert [p.name for p in list_checkpoints(run)] == ["step_00000002", "step_00000003"]
    model = _tiny()
    config = TrainConfig(model=model.config, out_dir=str(run))
    state = {"optimizer": {}, "rng": torch.get_rng_state()}
    save_checkpoint(run, 4, config, model, model, state, keep=2)
    assert [p.name for p in list_checkpoints(run)] == ["step_00000003", "step_00000004"]
    assert (copy / "model.safetensors").is_file()


def test_pruning_deletes_only_what_training_wrote(run: Path, capsys) -> None:
    notes = run / "checkpoints" / "step_00000002" / "notes.txt"
    notes.write_text("mine")
    model = _tiny()
    config = TrainConfig(model=model.config, out_dir=str(run))
    state = {"optimizer": {}, "rng": torch.get_rng_state()}
    save_checkpoint(run, 4, config, model, model, state, keep=2)
    assert notes.read_text() == "mine" and sorted(p.name for p in notes.parent.iterdir()) == [
        "notes.txt"
    ]
    err = capsys.readouterr().err
    assert "kept the folder" in err and "notes.txt" in err
    assert [p.name for p in list_checkpoints(run)] == ["step_00000003", "step_00000004"]
