"""What lets diffusers' ``DiffusionPipeline.from_pretrained(folder)`` load our pipeline.

Diffusers looks a pipeline class up inside its own package unless ``model_index.json`` names a
module file of the folder (``_class_name: [module, class]``); :func:`mark_loadable` writes that
file (:data:`LOADER_FILE`, one import of this package) and points ``_class_name`` at it. Diffusers
runs such a file only with ``trust_remote_code=True``; ``PatchForcingPipeline.from_pretrained``
passes it for a local folder whose file is exactly the one written here (:func:`is_own_loader`).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["LOADER_FILE", "PIPELINE_CLASS", "mark_loadable", "is_own_loader"]

PIPELINE_CLASS = "PatchForcingPipeline"
LOADER_FILE = "pipeline_patchforcing.py"
_LOADER = '''"""Lets DiffusionPipeline.from_pretrained load this folder (needs patchforcing)."""

from patchforcing.pipelines import PatchForcingPipeline

__all__ = ["PatchForcingPipeline"]
'''


def mark_loadable(folder: Path) -> None:
    """Write :data:`LOADER_FILE` into a saved pipeline folder and name it in model_index.json."""
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index["_class_name"] = [Path(LOADER_FILE).stem, PIPELINE_CLASS]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    (folder / LOADER_FILE).write_text(_LOADER)


def is_own_loader(folder: Path) -> bool:
    """Whether ``folder`` holds the loader file :func:`mark_loadable` writes, unchanged."""
    path = folder / LOADER_FILE
    return path.is_file() and path.read_text() == _LOADER
