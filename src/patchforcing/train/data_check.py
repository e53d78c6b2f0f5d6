"""The data a run is trained on, recorded in the run folder so that resuming notices other data.

``check_same_run`` compares the options, and ``--data`` is a path: the same path may name other
images of the same shape later (a folder refilled, a file replaced). The run therefore records a
fingerprint of its data in ``data.json`` (the number of images, the class names, a hash of an
evenly spaced sample of images and labels) and a resume with data of another fingerprint stops with
one line. Until the run's first checkpoint exists, other data is accepted and recorded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from patchforcing.data import ArrayData
from patchforcing.model.pretrained import list_checkpoints
from patchforcing.utils.io.atomic import atomic_write

__all__ = ["DATA_FILE", "data_fingerprint", "check_same_data"]

DATA_FILE = "data.json"
SAMPLED = 64  # images hashed: evenly spaced over the data set, first and last included


def data_fingerprint(data: ArrayData) -> dict[str, Any]:
    """What identifies a data set cheaply: its size, classes, shape and a hash of a sample."""
    count = len(data)
    index = torch.linspace(0, max(count - 1, 0), min(SAMPLED, count)).round().long().unique()
    digest = hashlib.sha256()
    if count:
        inputs, labels = data.batch(index)  # (S, C, H, W), (S,)
        digest.update(inputs.cpu().contiguous().numpy().tobytes())
        digest.update(labels.cpu().to(torch.int64).contiguous().numpy().tobytes())
    return {
        "images": count,
        "class_names": list(data.class_names),
        "classes": data.num_classes,
        "shape": [data.channels, data.image_size, data.image_size],
        "sample_sha256": digest.hexdigest()[:16],
    }


def _differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    said = {
        "images": "images",
        "classes": "classes",
        "class_names": "class names",
        "shape": "shape",
        "sample_sha256": "image content",
    }
    return [
        f"{said[k]} {saved.get(k)} -> {now[k]}" if k != "sample_sha256" else said[k]
        for k in said
        if saved.get(k) != now[k]
    ]


def check_same_data(run_dir: Path, data: ArrayData, write: bool = True) -> None:
    """Refuse to resume ``run_dir`` on data other than the data it was trained on; record the data's
    fingerprint (``write``: the process that writes the run) when the run has no checkpoint yet or
    recorded none."""
    now = data_fingerprint(data)
    path = run_dir / DATA_FILE
    saved = None
    if path.is_file() and list_checkpoints(run_dir):
        try:
            saved = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            saved = None  # unreadable: recorded anew
    if isinstance(saved, dict):
        differs = _differences(saved, now)
        if differs:
            raise ValueError(
                f"--data now names other data than the run {run_dir} was trained on "
                f"({'; '.join(differs)}); give the same data, or another --out for a new run"
            )
        return
    if write:
        text = json.dumps(now, indent=1) + "\n"
        atomic_write(path, lambda tmp: tmp.write_text(text), what="data fingerprint")
