"""An advisory inter-process lock on a file, so that runs started side by side do not step on each other."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["file_lock"]


@contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block; another process asking
    for the same lock waits until it is released. Where ``fcntl`` is missing (Windows) it does nothing."""
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform: side-by-side runs are the user's to keep apart
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
