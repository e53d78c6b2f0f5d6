"""Small JSON result files, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from patchforcing.utils.io.atomic import atomic_write

__all__ = ["write_json"]


def write_json(payload: dict[str, Any], path: str | Path) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=True)
    return atomic_write(Path(path), lambda tmp: tmp.write_text(text))
