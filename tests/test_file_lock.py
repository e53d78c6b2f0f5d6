"""``file_lock``: one process at a time holds a lock file, and a lock file that cannot be created
is named."""

from __future__ import annotations

import subprocess
import sys

import pytest

from patchforcing.utils.io import file_lock
from patchforcing.utils.io.atomic import DiskWriteError


def test_file_lock_excludes_another_process(tmp_path):
    """What lets two processes share a folder safely (e.g. two quality-bench processes: an arm and
    the results file)."""
    lock = tmp_path / "arm.lock"
    probe = (
        "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
        "except BlockingIOError:\n    print('held')"
    )

    def ask() -> str:
        return subprocess.run(
            [sys.executable, "-c", probe, str(lock)], capture_output=True, text=True
        ).stdout.strip()

    with file_lock(lock) as held:
        assert held and ask() == "held"
        with file_lock(
            lock, wait=False
        ) as second:  # a second open file of the lock, as another process has
            assert not second
    assert ask() == "free"
    with file_lock(lock, wait=False) as held:
        assert held and ask() == "held"


def test_file_lock_that_cannot_be_created_names_it(tmp_path):
    """A lock file whose folder cannot exist (a file stands in its place) stops with the disk-write
    error that names it, as the folder lock does, not a bare OSError."""
    (tmp_path / "taken").write_text("a user's file")
    with (
        pytest.raises(DiskWriteError, match="lock file"),
        file_lock(tmp_path / "taken" / "arm.lock"),
    ):
        pass
    assert (tmp_path / "taken").read_text() == "a user's file"
