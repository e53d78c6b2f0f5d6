"""Writes never destroy what the package did not write: destinations of every writing command, an
interrupted replace, leftovers of interrupted writes, one error line for every kind of failed write,
permissions that follow the umask."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from unittest import mock

import pytest
from safetensors import SafetensorError

import patchforcing.utils.io.atomic as atomic
from patchforcing.cli.main import main
from patchforcing.utils.io.atomic import (
    DiskWriteError,
    atomic_directory,
    atomic_write,
    clean_temporaries,
)
from patchforcing.utils.io.write_error import write_cause

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
]


@pytest.fixture
def run(tmp_path: Path, tiny_npz: Path) -> Path:
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), *TINY, "--steps", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture
def mine(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    return folder


def _sample(run: Path, out: Path, *extra: str) -> list[str]:
    return [
        "sample",
        "--checkpoint",
        str(run),
        "--num",
        "2",
        "--steps",
        "2",
        "--out",
        str(out),
        *extra,
    ]


def test_sample_refuses_foreign_folders_and_replaces_only_its_own(run, mine, tmp_path, capsys):
    assert (
        main(_sample(run, mine)) == 2
        and "not a sample folder (notes.txt)" in capsys.readouterr().err
    )
    assert main(_sample(run, run)) == 2 and (mine / "notes.txt").read_text() == "keep me"
    out = tmp_path / "samples"
    assert main(_sample(run, out)) == 0
    assert main(_sample(run, out)) == 0  # the same options: nothing left to make
    assert main(_sample(run, out, "--seed", "3")) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(_sample(run, out, "--overwrite", "--seed", "7")) == 0
    assert [p.name[:10] for p in sorted((out / "images").iterdir())] == ["seed000007", "seed000008"]
    (out / "mine.txt").write_text("mine")
    assert main(_sample(run, out, "--overwrite")) == 2 and (out / "mine.txt").exists()


def test_encode_and_eval_refuse_before_any_work(tiny_npz, mine, capsys):
    assert main(["encode", "--data", str(tiny_npz), "--vae", "missing", "--out", str(mine)]) == 2
    assert "not an encoded-latents folder" in capsys.readouterr().err
    assert main(["eval", "--out", str(mine / "notes.txt")]) == 2
    assert "not a result of `patchforcing eval`" in capsys.readouterr().err
    assert main(["eval", "--out", str(mine)]) == 2 and "is a folder" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me"


def test_export_and_convert_refuse_the_current_folder_and_files(run, mine, capsys, monkeypatch):
    monkeypatch.chdir(mine)
    assert main(["export", str(run), "."]) == 2 and "not a model folder" in capsys.readouterr().err
    assert (
        main(["convert", "authors.pt", "notes.txt"]) == 2 and "is a file" in capsys.readouterr().err
    )
    assert (
        main(["convert", "authors.pt", "."]) == 2 and (mine / "notes.txt").read_text() == "keep me"
    )


def test_an_interrupted_replace_never_loses_the_destination(tmp_path):
    target = tmp_path / "model"
    atomic_directory(target, lambda tmp: (tmp / "a").write_text("old"))
    real = os.replace

    def killed(
        src, dst
    ):  # the kill lands after the old folder went aside, before the new one moved in
        if Path(dst) == target:
            raise KeyboardInterrupt
        real(src, dst)

    with (
        mock.patch.object(atomic.os, "replace", killed),
        mock.patch.object(atomic.shutil, "rmtree"),
    ):
        with pytest.raises(KeyboardInterrupt):
            atomic_directory(target, lambda tmp: (tmp / "a").write_text("new"), replace=True)
    assert not target.exists() and (tmp_path / ".model.pf-old.tmp").is_dir()
    assert clean_temporaries(tmp_path) == [target]
    assert (target / "a").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model"]
    with pytest.raises(FileExistsError, match="refusing to replace"):
        atomic_directory(target, lambda tmp: None)


def test_leftovers_are_cleaned_and_other_hidden_files_kept(tmp_path):
    """Only names with the package's tag are its temporaries: a user's files shaped like
    tempfile's names (even ``.NAME.old.tmp``) stay."""
    (tmp_path / ".x.pf-abcd1234.tmp").mkdir()
    (tmp_path / ".y.png.pf-zz_zz9zz.tmp").write_text("half")
    (tmp_path / ".mine").write_text("keep")
    (tmp_path / ".notes.tmp").write_text("keep")
    (tmp_path / ".draft.abcd1234.tmp").write_text("keep")
    (tmp_path / ".model.old.tmp").mkdir()
    assert clean_temporaries(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".draft.abcd1234.tmp",
        ".mine",
        ".model.old.tmp",
        ".notes.tmp",
    ]


@pytest.mark.parametrize(
    "error,cause",
    [
        (OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)), "Disk quota exceeded (EDQUOT)"),
        (OSError(errno.EIO, os.strerror(errno.EIO)), "Input/output error (EIO)"),
        (
            SafetensorError(
                "Error while serializing: I/O error: No space left on device (os error 28)"
            ),
            "No space left on device (ENOSPC)",
        ),
        (
            RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"),
            "unexpected pos 704 vs 598 (RuntimeError)",
        ),
    ],
)
def test_every_write_error_is_one_line_naming_file_and_cause(tmp_path, error, cause):
    def write(tmp: Path) -> None:
        tmp.write_text("half")
        raise error

    with pytest.raises(DiskWriteError) as info:
        atomic_write(tmp_path / "f.bin", write, "weights")
    assert (
        str(info.value) == f"cannot write weights {tmp_path / 'f.bin'}: {cause}"
        and list(tmp_path.iterdir()) == []
    )


def test_a_write_failing_without_a_reason_on_a_full_disk_is_enospc(tmp_path):
    full = os.statvfs_result((4096, 4096, 100, 0, 0, 100, 0, 0, 0, 255))
    with mock.patch("patchforcing.utils.io.write_error.os.statvfs", return_value=full):
        assert write_cause(RuntimeError("unexpected pos 704 vs 598"), tmp_path / "x") == (
            errno.ENOSPC,
            "No space left on device (ENOSPC)",
        )


@pytest.mark.parametrize(
    "mask,file_mode,folder_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_written_files_follow_the_umask(tmp_path, tiny_model, mask, file_mode, folder_mode):
    old = os.umask(mask)
    try:
        folder = tiny_model.save_pretrained(tmp_path / "m")
        atomic_write(tmp_path / "r.json", lambda tmp: tmp.write_text(json.dumps({})))
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == folder_mode
    for path in (folder / "model.safetensors", folder / "config.json", tmp_path / "r.json"):
        assert path.stat().st_mode & 0o777 == file_mode, path


def test_export_on_a_failing_disk_is_one_line(run, tmp_path, capsys):
    broken = mock.patch(
        "patchforcing.model.pretrained.folder.save_file",
        side_effect=SafetensorError("I/O error: Disk quota exceeded (os error 122)"),
    )
    with broken:
        assert main(["export", str(run), str(tmp_path / "m")]) == 2
    expected = f"cannot write model folder {tmp_path / 'm'}: Disk quota exceeded (EDQUOT)"
    assert capsys.readouterr().err.strip() == f"patchforcing export: error: {expected}"
    assert not (tmp_path / "m").exists() and not any(
        p.name.startswith(".m.") for p in tmp_path.iterdir()
    )
    assert main(["export", str(run), str(tmp_path / "m")]) == 0
