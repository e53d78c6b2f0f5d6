"""The one error every failed write becomes, whatever raised it.

Writers fail in different ways on the same full disk: Python and Pillow raise ``OSError`` with an
errno, safetensors raises ``SafetensorError('... No space left on device (os error 28)')`` and
``torch.save`` a bare ``RuntimeError('... unexpected pos 704 vs 598')``. :class:`DiskWriteError`
turns each into one line naming the file and the cause, reading the errno from the exception, from
its text, or (for a write that failed without saying why) from the free space left on the disk.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from safetensors import SafetensorError

__all__ = ["DiskWriteError", "WRITE_ERRORS", "write_cause"]

WRITE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    RuntimeError,
    SafetensorError,
)  # what writers raise
_ERRNO_IN_TEXT = re.compile(r"(?:os error|errno)\s*(\d+)", re.IGNORECASE)
_TORCH_LOCATION = re.compile(
    r"^\[enforce fail at [^\]]*\]\s*\.?\s*"
)  # where in torch's C++ it failed: noise
_NEARLY_FULL = (
    1 << 20
)  # bytes free below which a write that failed without an errno is taken as ENOSPC


def _free_bytes(path: Path) -> int | None:
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        stat = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs (Windows) or an unreadable folder
        return None
    return stat.f_bavail * stat.f_frsize


def write_cause(err: BaseException, path: Path) -> tuple[int | None, str]:
    """(errno or None, one-line reason) of a failed write of ``path``; call it before the partial
    file is removed, so that a full disk still looks full."""
    if isinstance(err, DiskWriteError):
        return err.errno, err.cause
    code = err.errno if isinstance(err, OSError) else None
    if not code:
        found = _ERRNO_IN_TEXT.search(str(err))
        code = int(found.group(1)) if found else None
    if not code:
        free = _free_bytes(path)
        code = errno.ENOSPC if free is not None and free < _NEARLY_FULL else None
    if code:
        return code, f"{os.strerror(code)} ({errno.errorcode.get(code, code)})"
    text = _TORCH_LOCATION.sub("", (str(err).strip().splitlines() or [""])[0])
    return None, f"{text} ({type(err).__name__})" if text else type(err).__name__


class DiskWriteError(OSError):
    """A file or folder could not be written (disk full, quota, read-only, I/O error,
    no permission).

    One line: what was being written, where, why, and what the caller kept intact. An ``OSError``,
    so code that handles failed writes keeps handling it."""

    def __init__(self, what: str, path: str | Path, err: BaseException, kept: str = "") -> None:
        code, cause = write_cause(err, Path(path))
        super().__init__(f"cannot write {what} {path}: {cause}{f'; {kept}' if kept else ''}")
        self.errno, self.cause, self.kept = code, cause, kept
        self.what, self.path = what, Path(path)

    def keeping(self, kept: str) -> DiskWriteError:
        """The same failure with a note on what is intact (unless it has one)."""
        return self if self.kept else DiskWriteError(self.what, self.path, self, kept)
