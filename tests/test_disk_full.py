"""A real full disk: training, sampling and export on a small tmpfs filled to several levels end in
one line naming the file and ENOSPC, keep every checkpoint intact, and a rerun after freeing
space finishes.

Mounting a tmpfs needs root with CAP_SYS_ADMIN. Where the machine refuses, the same commands run
with the writers patched to fail as they do on a full disk (torch's RuntimeError, safetensors'
error, Pillow's OSError), and the free-space probe patched to report a full disk.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import pytest
from safetensors import SafetensorError

from patchforcing.cli.main import main
from patchforcing.model import PatchForcingDiT
from patchforcing.model.pretrained import list_checkpoints
from patchforcing.train.checkpoint import load_train_state, read_train_config

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
    "--keep-checkpoints",
    "2",
]
SIZE_KB = 3072


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[tuple[Path, bool]]:
    """(folder, whether it is a real tmpfs of SIZE_KB)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    try:
        real = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={SIZE_KB}k", "tmpfs", str(folder)],
                capture_output=True,
            ).returncode
            == 0
        )
    except OSError:  # no mount command
        real = False
    yield folder, real
    if real:
        subprocess.run(["umount", str(folder)], capture_output=True)


def _fill(folder: Path, leave_kb: int) -> None:
    stat = os.statvfs(folder)
    with open(folder / "filler", "wb") as f:
        f.write(b"\0" * max(stat.f_bavail * stat.f_frsize // 1024 - leave_kb, 0) * 1024)


def _simulated_full_disk() -> ExitStack:
    """The writers fail as on a full disk, and the disk reports no free space."""
    stack = ExitStack()
    full = os.statvfs_result((4096, 4096, 100, 0, 0, 100, 0, 0, 0, 255))
    stack.enter_context(
        mock.patch("patchforcing.utils.io.write_error.os.statvfs", return_value=full)
    )
    stack.enter_context(
        mock.patch(
            "patchforcing.train.checkpoint.torch.save",
            side_effect=RuntimeError(
                "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"
            ),
        )
    )
    stack.enter_context(
        mock.patch(
            "patchforcing.model.pretrained.folder.save_file",
            side_effect=SafetensorError(
                "Error while serializing: I/O error: No space left on device (os error 28)"
            ),
        )
    )
    stack.enter_context(
        mock.patch("PIL.Image.Image.save", side_effect=OSError(errno.ENOSPC, "No space left"))
    )
    return stack


def _intact(run: Path) -> bool:
    for folder in list_checkpoints(run):
        model = PatchForcingDiT(read_train_config(folder).model)
        load_train_state(folder, model, PatchForcingDiT(model.config))
    return True


def _one_line(err: str) -> str:
    """The error line (after a progress bar, if one was shown): exactly one, no traceback."""
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_training_on_a_full_disk(disk, tiny_npz, tmp_path, capsys):
    folder, real = disk
    probe = tmp_path / "probe"
    assert main(["train", "--data", str(tiny_npz), *TINY, "--steps", "1", "--out", str(probe)]) == 0
    kb = sum(p.stat().st_size for p in (probe / "checkpoints" / "step_00000001").iterdir()) // 1024
    train = ["train", "--data", str(tiny_npz), *TINY, "--steps", "5", "--out", str(folder / "run")]
    levels = [0, 4, 12, kb // 2, kb + kb // 2, 2 * kb + kb // 2] if real else [0]
    for leave in levels:
        with ExitStack() as faults:
            if real:
                _fill(folder, leave)
            else:
                assert main([*train, "--steps", "1"]) == 0  # one checkpoint before the disk fills
                capsys.readouterr()
                faults.enter_context(_simulated_full_disk())
            assert main(train) == 2
        line = _one_line(capsys.readouterr().err)
        assert line.startswith("patchforcing train: error: cannot write ") and "(ENOSPC)" in line, (
            line
        )
        assert str(folder / "run") in line and _intact(folder / "run")
        if real:
            (folder / "filler").unlink()
        assert main(train) == 0 and _intact(folder / "run")
        assert [p.name for p in list_checkpoints(folder / "run")] == [
            "step_00000004",
            "step_00000005",
        ]
        hidden = [p for p in (folder / "run").rglob(".*") if p.name != ".lock"]
        assert hidden == []
        capsys.readouterr()
        shutil.rmtree(folder / "run")


def test_sampling_and_export_on_a_full_disk(disk, tiny_npz, tmp_path, capsys):
    folder, real = disk
    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_npz), *TINY, "--steps", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    commands = {
        "sample": [
            "sample",
            "--checkpoint",
            str(run),
            "--num",
            "4",
            "--steps",
            "2",
            "--out",
            str(folder / "samples"),
        ],
        "export": ["export", str(run), str(folder / "model")],
    }
    for name, args in commands.items():
        with ExitStack() as faults:
            if real:
                _fill(folder, 2)
            else:
                faults.enter_context(_simulated_full_disk())
            assert main(args) == 2
        line = _one_line(capsys.readouterr().err)
        assert (
            line.startswith(f"patchforcing {name}: error: cannot write ") and "(ENOSPC)" in line
        ), line
        if real:
            (folder / "filler").unlink()
    assert not (folder / "model").exists() and not any(
        p.name.startswith(".model.") for p in folder.iterdir()
    )
