"""Where computed data the package can always make again is kept between runs."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(name: str) -> Path:
    """``$PATCHFORCING_CACHE/name``, or ``~/.cache/patchforcing/name`` where it is unset."""
    root = os.environ.get("PATCHFORCING_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "patchforcing") / name
