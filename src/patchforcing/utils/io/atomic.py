"""Atomic writes: write beside the target, flush to disk, then rename over it.

A reader (or a process restarted after SIGKILL) therefore sees either the old target or the complete
new one, never a half-written file or folder. Temporaries are hidden names ``.NAME.pf-XXXXXXXX.tmp``
(eight random characters, as :mod:`tempfile` makes them, after the package's tag ``pf-``, so that a
user's own ``.something.tmp`` files are never taken for them); a folder being replaced is first
renamed to ``.NAME.pf-old.tmp``, so an interrupted replace never loses the destination:
:func:`clean_temporaries` (called before every folder write, and by ``train`` on its run folder)
puts it back when the new one never arrived and removes every other leftover. Any failure to write
becomes a :class:`~patchforcing.utils.io.write_error.DiskWriteError` naming the file and the cause.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from patchforcing.utils.io.lock import file_lock
from patchforcing.utils.io.write_error import WRITE_ERRORS, DiskWriteError

__all__ = [
    "DiskWriteError",
    "atomic_write",
    "atomic_directory",
    "remove_directory",
    "fsync_dir",
    "clean_temporaries",
    "one_writer",
    "writer_lock",
    "as_umask_allows",
    "TEMPORARY",
    "aside_path",
]

TAG = "pf-"  # in every temporary's name: what the package itself made (and may delete)
TEMPORARY = re.compile(
    r"\.(?P<name>.+)\.pf-(?:[a-z0-9_]{8}|old)\.tmp"
)  # what tempfile and the replace below make


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def as_umask_allows(path: Path) -> None:
    """Give a file (or folder) the permissions a plain ``open`` (``mkdir``) would have: temporary
    files and some writers (safetensors) create private ones, outputs are as readable as the
    umask allows."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)


def aside_path(path: Path) -> Path:
    """Where a folder being replaced waits until its new version is in place."""
    return path.parent / f".{path.name}.{TAG}old.tmp"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_temporaries(folder: str | Path, name: str | None = None) -> list[Path]:
    """Finish what interrupted writes in ``folder`` left (only those of ``name`` when given): a
    folder renamed aside for a replace whose new version never arrived goes back to its name; every
    other hidden temporary is removed. Returns the restored folders."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    restored = []
    for entry in sorted(folder.iterdir()):
        found = TEMPORARY.fullmatch(entry.name)
        if found is None or (name is not None and found["name"] != name):
            continue
        target = folder / found["name"]
        if entry == aside_path(target) and not target.exists():
            os.replace(entry, target)
            restored.append(target)
        else:
            _remove(entry)
    return restored


def atomic_write(path: str | Path, write: Callable[[Path], object], what: str = "file") -> Path:
    """Call ``write(tmp_path)`` (its return value is ignored) and move the result to ``path`` in one
    rename; a failure leaves the old file (if any) untouched, removes the temporary and
    raises DiskWriteError."""
    path = Path(path)
    tmp_path: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{TAG}", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        write(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        as_umask_allows(tmp_path)
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except WRITE_ERRORS as err:
        failure = DiskWriteError(
            what, path, err
        )  # read the cause while the partial file still fills the disk
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
        raise failure from err
    except BaseException:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
        raise
    return path


def remove_directory(path: str | Path) -> None:
    """Delete a folder by first renaming it to a hidden temporary: a kill mid-delete leaves a
    ``.tmp`` folder (ignored, cleaned later), never a half-deleted folder under the real name."""
    path = Path(path)
    doomed = Path(tempfile.mkdtemp(prefix=f".{path.name}.{TAG}", suffix=".tmp", dir=path.parent))
    os.replace(path, doomed / path.name)
    fsync_dir(path.parent)
    shutil.rmtree(doomed, ignore_errors=True)


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``; an existing non-empty ``path`` is renamed aside first and deleted
    last, so that at every moment either it or the new folder is findable
    (see clean_temporaries)."""
    aside = aside_path(path)
    replacing = path.is_dir() and any(path.iterdir())
    if replacing:
        os.replace(path, aside)
    os.replace(tmp, path)  # an empty folder is replaced by the rename itself
    fsync_dir(path.parent)
    if replacing:
        shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def writer_lock(target: Path) -> Iterator[bool]:
    """Try, for the block, this machine's lock of writing the folder ``target``; yields whether it
    is held (False: another process is writing it now). The lock file lives in a private folder
    under the runtime or temporary directory, never beside ``target``; where that folder cannot be
    made, nothing is locked and True is yielded."""
    digest = hashlib.sha256(str(target).encode()).hexdigest()[:32]
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    locks = base / f"patchforcing-locks-{getattr(os, 'getuid', lambda: 0)()}"
    try:
        locks.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        yield True
        return
    with file_lock(locks / f"{digest}.lock", wait=False) as held:
        yield held


@contextmanager
def one_writer(target: Path) -> Iterator[None]:
    """Hold :func:`writer_lock` of ``target`` for the block: a second writer is refused with one
    line (else it would take the first one's temporary for a leftover and delete it)."""
    with writer_lock(target) as held:
        if not held:
            raise ValueError(
                f"another process is writing {target} now; run this again when it has finished"
            )
        yield


def atomic_directory(
    path: str | Path, fill: Callable[[Path], None], what: str = "folder", replace: bool = False
) -> Path:
    """Call ``fill(tmp_dir)`` and rename the finished folder to ``path``: ``path`` either does not
    exist or holds every file. An existing empty folder is replaced; a non-empty one only with
    ``replace`` (callers check first that it is their own output). Failures raise DiskWriteError."""
    target = Path(os.path.abspath(path))  # "." and ".." have no name to put beside them
    with one_writer(target):  # a second write of the same folder is refused
        clean_temporaries(target.parent, target.name)
        if target.exists() and not (target.is_dir() and (replace or not any(target.iterdir()))):
            raise FileExistsError(
                f"{path} exists and is not an empty folder; refusing to replace it"
            )
        tmp: Path | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(
                tempfile.mkdtemp(prefix=f".{target.name}.{TAG}", suffix=".tmp", dir=target.parent)
            )
            fill(tmp)
            for item in tmp.iterdir():
                if item.is_file():
                    with open(item, "rb") as f:
                        os.fsync(f.fileno())
                as_umask_allows(item)
            as_umask_allows(tmp)  # mkdtemp makes 0700
            fsync_dir(tmp)
            _swap_in(tmp, target)
        except WRITE_ERRORS as err:
            failure = DiskWriteError(what, path, err)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise failure from err
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
    return Path(path)
