"""Advisory inter-process locks, so that runs started side by side do not step on each other: one
that waits, or says at once that it is taken (:func:`file_lock`), and one that refuses at once with
an error (:func:`exclusive_folder`, one writer per run)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from patchforcing.utils.io.write_error import DiskWriteError

__all__ = ["file_lock", "exclusive_folder", "FolderInUseError"]


@contextmanager
def _flock(path: Path, wait: bool) -> Iterator[tuple[int | None, bool]]:
    """An exclusive ``flock`` on ``path`` (created if missing) for the block: (its descriptor,
    whether it is held). With ``wait=False`` a lock another process holds is not waited for
    (held False). Where ``fcntl`` is missing (Windows) nothing is locked: (None, True)."""
    try:
        import fcntl
    except (
        ImportError
    ):  # no advisory locks on this platform: side-by-side runs are the user's to keep apart
        yield None, True
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise DiskWriteError("lock file", path, err) from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield fd, False
            return
        yield fd, True
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def file_lock(path: str | Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block, which gets True;
    another process asking for the same lock waits until it is released, or with ``wait=False`` runs
    its block at once with False (not holding it). Where ``fcntl`` is missing (Windows) it does
    nothing (True)."""
    with _flock(Path(path), wait) as (_, held):
        yield held


class FolderInUseError(ValueError):
    """Another process holds the folder's lock (e.g. a second ``train`` on the same ``--out``)."""


@contextmanager
def _folder_flock(folder: Path) -> Iterator[bool | None]:
    """An exclusive, non-waiting ``flock`` on the folder itself (its directory descriptor): True
    held, False taken by another process, None where folders cannot be locked (no ``fcntl``, or a
    file system that refuses it)."""
    try:
        import fcntl
    except ImportError:
        yield None
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
    except OSError as err:
        raise DiskWriteError("run folder", folder, err) from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        except OSError:
            yield None
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def exclusive_folder(
    folder: str | Path, what: str = "folder", name: str = ".lock"
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` itself for the block, or fail at once with
    "WHAT FOLDER is in use by PID N" (the PID read from ``folder/name``, which the holder writes).
    The lock is on the folder, not on a file in it, so removing ``name`` by hand does not let a
    second writer in; where a file system cannot lock folders, ``folder/name`` is locked instead.
    The kernel releases it when the process ends, however it ends (SIGKILL included), so a stale
    lock file never blocks a rerun. Where ``fcntl`` is missing it does nothing."""
    folder = Path(folder)
    with _folder_flock(folder) as held_folder:
        if held_folder is False:
            raise _in_use(what, folder, _read_pid(folder / name))
        with _flock(folder / name, wait=False) as (fd, held):
            if fd is not None and not held:
                raise _in_use(what, folder, _read_pid(folder / name))
            if fd is not None:
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                except OSError:
                    # a full disk: the lock holds without the PID, which only the message of
                    # others shows
                    pass
            yield


def _read_pid(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[:32].strip() or "unknown"
    except OSError:  # removed by hand: the folder's lock holds all the same
        return "unknown"


def _in_use(what: str, folder: Path, holder: str) -> FolderInUseError:
    return FolderInUseError(
        f"{what} {folder} is in use by PID {holder}; wait for it to finish, or stop it "
        "(a killed process releases the folder at once)"
    )
