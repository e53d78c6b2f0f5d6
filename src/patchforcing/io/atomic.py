"""Atomic writes: write beside the target, flush to disk, then rename over it.

A reader (or a process restarted after SIGKILL) therefore sees either the old target or the complete
new one, never a half-written file or folder. Temporaries are hidden names ending in ``.tmp``.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["DiskWriteError", "atomic_write", "atomic_directory", "remove_directory", "fsync_dir"]


class DiskWriteError(RuntimeError):
    """A file or folder could not be written (disk full, read-only folder, no permission).

    The message says what was being written, where, and why, plus what the caller kept intact."""

    def __init__(self, what: str, path: str | Path, err: OSError, kept: str = "") -> None:
        code = errno.errorcode.get(err.errno, "") if err.errno else ""
        reason = f"{err.strerror or err}{f' ({code})' if code else ''}"
        super().__init__(f"cannot write {what} {path}: {reason}{f'; {kept}' if kept else ''}")
        self.errno = err.errno


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` (its return value is ignored) and move the result to ``path`` in one rename; a
    failure leaves the old file (if any) untouched and removes the temporary."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def remove_directory(path: str | Path) -> None:
    """Delete a folder by first renaming it to a hidden temporary: a kill mid-delete leaves a
    ``.tmp`` folder (ignored, cleaned later), never a half-deleted folder under the real name."""
    path = Path(path)
    doomed = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.replace(path, doomed / path.name)
    fsync_dir(path.parent)
    shutil.rmtree(doomed, ignore_errors=True)


def atomic_directory(path: str | Path, fill: Callable[[Path], None]) -> Path:
    """Call ``fill(tmp_dir)`` and rename the finished folder to ``path``: ``path`` either does not
    exist or holds every file. An existing ``path`` is replaced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        fill(tmp)
        for item in tmp.iterdir():
            with open(item, "rb") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; a checkpoint should be as readable as any output
        fsync_dir(tmp)
        if path.exists():
            remove_directory(path)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
