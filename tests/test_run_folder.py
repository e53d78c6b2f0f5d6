"""The run folder: one writer at a time, recognised by its content (any spelling of its path,
moved), restartable before its first checkpoint, resumed from the newest intact checkpoint, and
checkpoint folders recognised only by their exact names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
import torch
from safetensors.torch import load_file, save_file

import patchforcing.train.loop as loop
from patchforcing.cli.main import main
from patchforcing.model.pretrained import list_checkpoints
from patchforcing.model.pretrained.folder import MODEL_FORMAT_VERSION
from patchforcing.train.run_folder import locked_run
from patchforcing.utils.io.lock import FolderInUseError

TINY = [
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
    "--batch-size",
    "8",
    "--checkpoint-every",
    "1",
    "--warmup",
    "2",
    "--seed",
    "1",
]


def _train(npz: Path, out: Path | str, steps: int, *extra: str) -> int:
    return main(
        ["train", "--data", str(npz), *TINY, "--steps", str(steps), "--out", str(out), *extra]
    )


def _ema(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "ema.safetensors"))


def _equal(a: Path, b: Path) -> bool:
    wa, wb = _ema(a), _ema(b)
    return all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_second_writer_stops_at_once_naming_the_first(tiny_npz, tmp_path):
    run = tmp_path / "run"
    with locked_run(run):
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "patchforcing",
                "train",
                "--data",
                str(tiny_npz),
                *TINY,
                "--steps",
                "2",
                "--out",
                f"{run}/",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 2 and time.perf_counter() - start < 120
    assert proc.stderr.strip().splitlines()[-1] == (
        f"patchforcing train: error: run {run} is in use by PID {os.getpid()}; wait for it to "
        "finish, or stop it (a killed process releases the folder at once)"
    )
    assert not list_checkpoints(run)


def test_the_lock_is_released_when_the_holder_dies(tiny_npz, tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from patchforcing.utils.io.lock import "
            f"exclusive_folder\nwith exclusive_folder({str(run)!r}, 'run', '.lock'):\n"
            "    print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(FolderInUseError, match=f"in use by PID {holder.pid}"):
        with locked_run(run):
            pass
    holder.kill()
    holder.wait()
    with locked_run(run):  # SIGKILL released it; the stale lock file does not matter
        pass


def test_a_foreign_folder_is_not_a_run(tiny_npz, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    assert _train(tiny_npz, mine, 1) == 2
    assert (
        "is not empty and holds no patchforcing run (config.json (not a training config))"
        in capsys.readouterr().err
    )
    assert (mine / "config.json").read_text() == '{"my": "settings"}' and sorted(
        os.listdir(mine)
    ) == ["config.json"]


def test_any_spelling_of_the_path_and_a_moved_folder_resume(tiny_npz, tmp_path, monkeypatch):
    assert _train(tiny_npz, tmp_path / "ref", 4) == 0
    run = tmp_path / "a" / "run"
    assert _train(tiny_npz, run, 1) == 0
    run_id = (run / "run_id").read_text()
    monkeypatch.chdir(tmp_path)
    assert _train(tiny_npz, "a/run/", 2) == 0 and _train(tiny_npz, "./a/run", 3) == 0
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))
    assert _train(tiny_npz, tmp_path / "b" / "run", 4) == 0
    final = tmp_path / "b" / "run" / "checkpoints" / "step_00000004"
    assert _equal(final, tmp_path / "ref" / "checkpoints" / "step_00000004")
    assert (tmp_path / "b" / "run" / "run_id").read_text() == run_id
    assert '"run_id"' in (final / "config.json").read_text()


def test_other_options_are_refused_once_a_checkpoint_exists(tiny_npz, tmp_path, capsys):
    assert _train(tiny_npz, tmp_path / "run", 1) == 0
    assert _train(tiny_npz, tmp_path / "run", 2, "--lr", "0.001") == 2
    assert "different configuration (sections ['optim'])" in capsys.readouterr().err


def test_a_run_without_checkpoint_restarts_with_new_options(tiny_npz, tmp_path, capsys):
    run = tmp_path / "run"
    real = loop.patch_forcing_loss

    def nan_loss(*args, **kwargs):
        out = real(*args, **kwargs)
        return type(out)(out.loss * float("nan"), out.mse, out.nll, out.per_patch_mse)

    with mock.patch.object(loop, "patch_forcing_loss", nan_loss):
        assert (
            _train(tiny_npz, run, 2) == 2 and "non-finite loss at step 0" in capsys.readouterr().err
        )
    assert (run / "config.json").is_file() and not list_checkpoints(run)
    assert _train(tiny_npz, run, 2, "--lr", "0.001") == 0
    assert [p.name for p in list_checkpoints(run)] == ["step_00000001", "step_00000002"]
    assert (run / "metrics.jsonl").read_text().count('"run_id"') == 1


def test_a_damaged_newest_checkpoint_falls_back_saying_which(tiny_npz, tmp_path, capsys):
    assert _train(tiny_npz, tmp_path / "ref", 4) == 0
    run = tmp_path / "run"
    assert _train(tiny_npz, run, 3) == 0
    (run / "checkpoints" / "step_00000003" / "ema.safetensors").write_bytes(b"garbage")
    capsys.readouterr()
    assert _train(tiny_npz, run, 4) == 0
    err = capsys.readouterr().err
    assert "step_00000003 (cannot read weights" in err
    assert f"resuming from {run / 'checkpoints' / 'step_00000002'}" in err
    assert _equal(
        run / "checkpoints" / "step_00000004", tmp_path / "ref" / "checkpoints" / "step_00000004"
    )


def test_a_newer_checkpoint_is_never_skipped(tiny_npz, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(tiny_npz, run, 2) == 0
    path = run / "checkpoints" / "step_00000002" / "ema.safetensors"
    save_file(
        load_file(str(path)), str(path), metadata={"format_version": str(MODEL_FORMAT_VERSION + 1)}
    )
    assert _train(tiny_npz, run, 3) == 2 and "upgrade patchforcing" in capsys.readouterr().err
    assert [p.name for p in list_checkpoints(run)] == ["step_00000001", "step_00000002"]


def test_only_exact_checkpoint_names_count(tiny_npz, tmp_path):
    run = tmp_path / "run"
    assert _train(tiny_npz, run, 2) == 0
    checkpoints = run / "checkpoints"
    for name in ("step_00000009_backup", "step_9", "step_00000009.bak", "step_000000090"):
        shutil.copytree(checkpoints / "step_00000002", checkpoints / name)
    assert (
        _train(tiny_npz, run, 4, "--keep-checkpoints", "1") == 2
    )  # another option: refused, nothing touched
    assert _train(tiny_npz, run, 4) == 0
    names = sorted(p.name for p in checkpoints.iterdir())
    assert names == sorted(
        [
            "step_00000003",
            "step_00000004",
            "step_000000090",
            "step_00000009.bak",
            "step_00000009_backup",
            "step_9",
        ]
    )


def test_all_checkpoints_damaged_is_an_error_not_a_fresh_start(tiny_npz, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(tiny_npz, run, 1) == 0
    (run / "checkpoints" / "step_00000001" / "train_state.pt").write_bytes(b"x")
    assert _train(tiny_npz, run, 2) == 2
    assert "no intact checkpoint" in capsys.readouterr().err
    assert [p.name for p in list_checkpoints(run)] == ["step_00000001"]


def test_the_lock_holds_when_its_file_is_removed_by_hand(tmp_path):
    """The lock is on the run folder itself: deleting ``.lock`` does not let a second writer in."""
    run = tmp_path / "run"
    with locked_run(run):
        (run / ".lock").unlink()
        with pytest.raises(FolderInUseError, match="is in use by PID"):
            with locked_run(run):
                pass
    with locked_run(run):
        pass


def test_resume_refuses_other_data_behind_the_same_path(tiny_npz, tmp_path, capsys):
    import numpy as np

    run = tmp_path / "run"
    assert _train(tiny_npz, run, 1) == 0
    with np.load(tiny_npz) as arrays:
        images, labels = 255 - arrays["images"], arrays["labels"]
    np.savez(tiny_npz, images=images, labels=labels, class_names=np.array(["a", "b", "c"]))
    capsys.readouterr()
    assert _train(tiny_npz, run, 2) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "other data than the run" in err[-1] and "image content" in err[-1]
    assert [p.name for p in list_checkpoints(run)] == ["step_00000001"]
